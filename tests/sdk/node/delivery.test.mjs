// Delivery seen through the official @knocklabs/node client: a delivered webhook, and its
// message's events, delivery logs and content read as the SDK's types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Knock from '@knocklabs/node';
import { unique, eventually, all } from './helpers.mjs';

const knock = new Knock();
const receiver = process.env.HERALD_TEST_RECEIVER_URL;

test('a delivered webhook has its events, delivery log and content', async () => {
  assert.ok(receiver, 'HERALD_TEST_RECEIVER_URL is set by the test command');
  const who = unique('hooked');
  const key = unique('k');
  await knock.workflows.trigger('deliver-hook', {
    recipients: [who],
    data: { url: `${receiver}/hooks/ok/${key}`, event: 'signup' },
  });
  const message = await eventually('a delivered webhook', async () => {
    const page = await knock.users.listMessages(who);
    const [m] = page.items ?? page.entries ?? [];
    return m && m.status === 'delivered' && m;
  });
  assert.equal(message.channel.type, 'http');

  const events = await all(knock.messages.listEvents(message.id));
  assert.deepEqual(events.map((e) => e.type), ['message.queued', 'message.delivered']);
  assert.equal(events[0].__typename, 'MessageEvent');
  assert.equal(events[0].recipient, who);

  const logs = await all(knock.messages.listDeliveryLogs(message.id));
  assert.equal(logs.length, 1);
  assert.equal(logs[0].__typename, 'MessageDeliveryLog');
  assert.equal(logs[0].service_name, 'Webhook');
  assert.equal(logs[0].request.method, 'POST');
  assert.equal(logs[0].request.path, `/hooks/ok/${key}`);
  assert.equal(logs[0].request.headers['webhook-signature'], '[redacted]', 'no signature in the log');
  assert.equal(logs[0].response.status, 200);

  const content = await knock.messages.getContent(message.id);
  assert.equal(content.__typename, 'MessageContent');
  assert.equal(content.message_id, message.id);
  assert.equal(JSON.parse(content.data.body).event, 'signup');

  // The receiver got it once, signed, with the message id as its webhook-id.
  const hooks = await (await fetch(`${receiver}/_hooks?key=${key}`)).json();
  assert.equal(hooks.length, 1);
  assert.equal(hooks[0].webhook_id, message.id);
  assert.equal(hooks[0].standard_verified, true);
});
