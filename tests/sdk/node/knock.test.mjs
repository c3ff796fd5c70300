// The official @knocklabs/node client, as published, against Herald.
// Needs KNOCK_BASE_URL and KNOCK_API_KEY (tests/sdk/with-server.sh sets them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Knock from '@knocklabs/node';
import { unique, sleep, eventually } from './helpers.mjs';

const knock = new Knock(); // reads KNOCK_API_KEY and KNOCK_BASE_URL, as users do

async function allMessages(userId, query = {}) {
  const out = [];
  for await (const m of knock.users.listMessages(userId, query)) out.push(m);
  return out;
}

test('users.update identifies and merges', async () => {
  const id = unique('user');
  const first = await knock.users.update(id, { name: 'Ada', email: 'ada@example.com', plan: 'pro' });
  assert.equal(first.id, id);
  assert.equal(first.name, 'Ada');
  const second = await knock.users.update(id, { email: 'ada@example.org' });
  assert.equal(second.name, 'Ada');
  assert.equal(second.email, 'ada@example.org');
  assert.equal(second.plan, 'pro');
  const fetched = await knock.users.get(id);
  assert.equal(fetched.email, 'ada@example.org');
});

test('workflows.trigger, workflows.cancel, listMessages, feeds.listItems, workflowRecipientRuns.get', async () => {
  const [kept, cancelled] = [unique('kept'), unique('cancelled')];
  await knock.users.update(kept, { name: 'Kept' });
  const key = unique('invite');
  const { workflow_run_id } = await knock.workflows.trigger('reminder-2s', {
    recipients: [kept, { id: cancelled, name: 'Cancelled' }],
    cancellation_key: key,
    data: { what: 'your invite' },
  });
  assert.match(workflow_run_id, /^[0-9a-f-]{36}$/);
  const result = await knock.workflows.cancel('reminder-2s', { cancellation_key: key, recipients: [cancelled] });
  assert.equal(result, null);

  const messages = await eventually('the reminder', async () => {
    const m = await allMessages(kept);
    return m.length > 0 && m;
  });
  assert.equal(messages.length, 1);
  assert.equal(messages[0].source.workflow_run_id, workflow_run_id);
  assert.equal(messages[0].status, 'delivered');

  const feed = [];
  for await (const item of knock.users.feeds.listItems(kept, 'in-app')) feed.push(item);
  assert.equal(feed.length, 1);
  assert.equal(feed[0].blocks[0].content, 'Reminder for Kept: your invite');
  const page = await knock.users.feeds.listItems(kept, 'in-app');
  assert.equal(page.meta?.unread_count ?? page.body?.meta?.unread_count, 1);

  const run = await knock.workflowRecipientRuns.get(messages[0].source.workflow_recipient_run_id);
  assert.equal(run.status, 'completed');
  assert.equal(run.workflow, 'reminder-2s');
  assert.equal(run.trigger_source.cancellation_key, key);
  assert.ok(run.events.some((e) => e.event === 'message_created'));

  await sleep(800);
  assert.equal((await allMessages(cancelled)).length, 0);
  const runs = [];
  for await (const r of knock.workflowRecipientRuns.list({ workflow: 'reminder-2s', status: ['cancelled'] })) runs.push(r);
  assert.ok(runs.some((r) => r.recipient === cancelled));
});

test('auto-pagination follows page_info.after across pages', async () => {
  const id = unique('paged');
  for (let i = 0; i < 5; i++) {
    await knock.workflows.trigger('welcome-now', { recipients: [{ id, name: `n${i}` }] });
  }
  await eventually('five messages', async () => (await allMessages(id)).length === 5);
  const paged = await allMessages(id, { page_size: 2 });
  assert.equal(paged.length, 5);
  assert.equal(new Set(paged.map((m) => m.id)).size, 5);
});

test('errors surface as the SDK error classes', async () => {
  await assert.rejects(knock.workflows.trigger('no-such-workflow', { recipients: ['a'] }), (e) => {
    assert.equal(e.status, 404);
    assert.ok(e instanceof Knock.NotFoundError);
    return true;
  });
  await assert.rejects(knock.workflows.trigger('welcome-now', { recipients: [], data: [] }), (e) => {
    assert.equal(e.status, 422);
    assert.ok(e instanceof Knock.UnprocessableEntityError);
    assert.equal(e.error.code, 'invalid_params');
    return true;
  });
  const anonymous = new Knock({ apiKey: 'sk_wrong' });
  await assert.rejects(anonymous.users.get('x'), (e) => e instanceof Knock.AuthenticationError);
});

test('a second secret key (HERALD_API_KEYS, a rotation) works as the first', async () => {
  const next = new Knock({ apiKey: process.env.HERALD_TEST_SECOND_KEY });
  const user = unique('rotated');
  await next.users.update(user, { name: 'Rota' });
  assert.equal((await knock.users.get(user)).name, 'Rota');
  const prefix = new Knock({ apiKey: process.env.HERALD_TEST_SECOND_KEY.slice(0, -1) });
  await assert.rejects(prefix.users.get(user), (e) => e instanceof Knock.AuthenticationError);
});

test('workflows.trigger with idempotencyKey replays the first run, refuses another body', async () => {
  const user = unique('idem');
  const idempotencyKey = unique('order-placed');
  const body = { recipients: [{ id: user, name: 'Ida' }], data: { order: 1 } };
  const first = await knock.workflows.trigger('welcome-now', body, { idempotencyKey }).withResponse();
  assert.equal(first.response.headers.get('idempotent-replayed'), null);
  const again = await knock.workflows.trigger('welcome-now', body, { idempotencyKey }).withResponse();
  assert.equal(again.data.workflow_run_id, first.data.workflow_run_id);
  assert.equal(again.response.headers.get('idempotent-replayed'), 'true');
  assert.equal(again.response.headers.get('original-x-request-id'), first.response.headers.get('x-request-id'));

  await assert.rejects(
    knock.workflows.trigger('welcome-now', { ...body, data: { order: 2 } }, { idempotencyKey }),
    (e) => e instanceof Knock.ConflictError && e.status === 409 && e.error?.code === 'idempotency_key_reused',
  );
  await eventually('the welcome', async () => (await allMessages(user)).length > 0);
  await sleep(300);
  assert.equal((await allMessages(user)).length, 1);
});
