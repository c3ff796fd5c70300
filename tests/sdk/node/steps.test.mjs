// Batch and branch workflows driven end to end by the official @knocklabs/node client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Knock from '@knocklabs/node';
import { unique, eventually, all } from './helpers.mjs';

const knock = new Knock();

/** Herald's own batch endpoints (Knock has none), called with the same key. */
async function herald(method, path) {
  const res = await fetch(`${process.env.KNOCK_BASE_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${process.env.KNOCK_API_KEY}` },
  });
  assert.equal(res.status, 200, `${method} ${path}`);
  return res.json();
}

test('a batch collects triggers, a cancel removes one, a flush closes it', async () => {
  const who = unique('reader');
  await knock.users.update(who, { name: 'Reader' });
  for (const [i, author] of ['ann', 'bob', 'cat'].entries()) {
    await knock.workflows.trigger('comment-digest', {
      recipients: [who],
      actor: { id: `${author}-${who}`, name: author },
      cancellation_key: `${who}-c${i}`,
      data: { page: 'roadmap' },
    });
  }
  // Another page is another batch.
  await knock.workflows.trigger('comment-digest', { recipients: [who], data: { page: 'faq' } });
  await knock.workflows.cancel('comment-digest', { cancellation_key: `${who}-c1` });

  const open = await eventually('two open batches', async () => {
    const { entries } = await herald('GET', `/v1/batches?status=open&workflow=comment-digest&recipient=${who}`);
    return entries.length === 2 && entries;
  });
  const roadmap = open.find((b) => b.batch_key === 'roadmap');
  assert.equal(roadmap.activity_count, 3);

  // The run that opened each batch is paused, waiting for its window.
  const paused = await all(knock.workflowRecipientRuns.list({ status: ['paused'], workflow: 'comment-digest' }));
  assert.ok(paused.some((r) => r.id === roadmap.workflow_recipient_run_id));

  await herald('POST', `/v1/batches/${roadmap.id}/flush`);
  const messages = await eventually('the digest', async () => {
    const m = await all(knock.users.listMessages(who));
    return m.length > 0 && m;
  });
  assert.equal(messages.length, 1, 'only the flushed batch sent');
  const feed = await all(knock.users.feeds.listItems(who, 'in-app'));
  assert.equal(feed[0].blocks[0].content, `2 new comments on roadmap by ann-${who}, cat-${who}`);
  // The feed item carries the batch, as Knock's do.
  assert.equal(feed[0].total_activities, 2);
  assert.equal(feed[0].total_actors, 2);
  assert.deepEqual(feed[0].activities.map((a) => a.actor.id), [`ann-${who}`, `cat-${who}`]);
  assert.equal(feed[0].activities[0].actor.name, 'ann', 'actors as full records');
  assert.equal(feed[0].activities[0].data.page, 'roadmap');
  // The feed is also named by the channel's id, as Knock's clients name it.
  assert.match(messages[0].channel_id, /^[0-9a-f-]{36}$/);
  const byId = await all(knock.users.feeds.listItems(who, messages[0].channel_id));
  assert.deepEqual(byId.map((i) => i.id), feed.map((i) => i.id));
  const run = await knock.workflowRecipientRuns.get(roadmap.workflow_recipient_run_id);
  assert.ok(run.events.some((e) => e.event === 'batch_closed'));
});

test('a branch routes each recipient by its properties', async () => {
  const [pro, free] = [unique('pro'), unique('free')];
  await knock.workflows.trigger('plan-branch', {
    recipients: [{ id: pro, name: 'Pat', plan: 'pro' }, { id: free, name: 'Fay', plan: 'free' }],
  });
  const contents = async (id) => {
    const items = await all(knock.users.feeds.listItems(id, 'in-app'));
    return items.map((i) => i.blocks[0].content);
  };
  await eventually('both feeds', async () => (await contents(pro)).length && (await contents(free)).length);
  assert.deepEqual(await contents(pro), ['Pro tip for Pat'], 'the Pro branch terminates');
  assert.deepEqual(await contents(free), ['Upgrade, Fay'], 'the default branch falls through');
});
