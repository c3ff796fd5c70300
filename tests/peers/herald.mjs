// The peer workload on Herald through @knocklabs/node, unchanged: n single-recipient triggers
// with a cancellation key and a 20 s delay, 50 in flight, half of them cancelled, then every
// recipient's messages are read back: each uncancelled run left exactly one message, and a
// cancelled one none, unless it fell due and fired before its cancel was answered. Usage: KNOCK_BASE_URL=… KNOCK_API_KEY=… node herald.mjs [n]
import Knock from '@knocklabs/node';
import { figures, lateness, load, sleep } from './common.mjs';

const n = Number(process.argv[2] ?? 5000);
const IN_FLIGHT = 50;
const DELAY_MS = 20000;
const knock = new Knock({ apiKey: process.env.KNOCK_API_KEY, baseURL: process.env.KNOCK_BASE_URL, maxRetries: 0 });
const run = `n${Date.now()}`;
const user = (i) => `${run}-u${i}`;
const sentAt = new Array(n);

const trigger = await load(n, IN_FLIGHT, async (i) => {
  sentAt[i] = Date.now();
  await knock.workflows.trigger('delayed', { recipients: [user(i)], cancellation_key: `${run}-k${i}`, data: { n: i } });
});
const triggered = figures(`herald @knocklabs/node: trigger (${n})`, trigger);
const cancelled = Math.ceil(n / 2);
const cancelledAt = new Array(n);
const cancel = await load(cancelled, IN_FLIGHT, async (i) => {
  await knock.workflows.cancel('delayed', { cancellation_key: `${run}-k${i * 2}` });
  cancelledAt[i * 2] = Date.now();
});
const cancels = figures(`herald @knocklabs/node: cancel (${cancelled})`, cancel);

await sleep(Math.max(0, sentAt[n - 1] + DELAY_MS + 1000 - Date.now()));
const late = [];
let wrong = 0;
let firedFirst = 0;
const check = async (i) => {
  const page = await knock.users.listMessages(user(i));
  const messages = page.items ?? page.entries ?? [];
  const expected = i % 2 === 0 ? 0 : 1;
  // A run due before its cancel was answered may have fired first; then its message predates it.
  if (expected === 0 && messages.length === 1 && Date.parse(messages[0].inserted_at) < cancelledAt[i]) {
    firedFirst++;
    return 'ok';
  }
  if (messages.length !== expected) {
    // Not fired yet is late, not wrong: look again until the deadline.
    return messages.length < expected ? 'pending' : 'wrong';
  }
  if (expected) late.push(Date.parse(messages[0].inserted_at) - (sentAt[i] + DELAY_MS));
  return 'ok';
};
let pending = [...Array(n).keys()];
const deadline = Date.now() + 60000;
while (pending.length && Date.now() < deadline) {
  const again = [];
  await load(pending.length, IN_FLIGHT, async (j) => {
    const outcome = await check(pending[j]);
    if (outcome === 'pending') again.push(pending[j]);
    if (outcome === 'wrong') wrong++;
  });
  pending = again;
  if (pending.length) await sleep(200);
}
wrong += pending.length;
const woke = lateness(`herald @knocklabs/node: wake-up lateness (${late.length})`, late);
console.log(
  `herald @knocklabs/node: correctness: ${wrong === 0 ? `every uncancelled run fired exactly once, no cancelled one after its cancel (${firedFirst} fell due and fired before theirs)` : `${wrong} recipients wrong`}`,
);
console.log(`SUMMARY ${JSON.stringify({ system: 'herald-node', add: triggered, remove: cancels, lateness: woke, wrong })}`);
process.exit(wrong === 0 ? 0 : 1);
