// After the wrk runs: reads back every message of the `delayed` workflow through
// @knocklabs/node and checks the keys wrk sent. Each wrk thread had at most MARGIN requests in
// flight when it stopped, which may or may not have reached Herald; all keys before those are
// checked: each uncancelled one fired exactly once, no cancelled one fired, no key twice.
// Usage: node check-wrk.mjs <prefix> <triggers sent, per thread> <cancels sent, per thread>
import Knock from '@knocklabs/node';
import { sleep } from './common.mjs';

const MARGIN = 100;
const [prefix, triggersArg, cancelsArg] = process.argv.slice(2);
const triggers = triggersArg.split(',').map(Number);
const cancels = cancelsArg.split(',').map(Number);
const knock = new Knock({ apiKey: process.env.KNOCK_API_KEY, baseURL: process.env.KNOCK_BASE_URL });

const expected = (t, n) => {
  if (n >= triggers[t] - MARGIN) return null; // in flight at the stop: either way
  if (n % 2 === 1 || n / 2 >= cancels[t]) return 1;
  return n / 2 < cancels[t] - MARGIN ? 0 : null;
};
let checked = 0;
let wrong = [];
for (let attempt = 0; attempt < 30; attempt++) {
  const seen = new Map();
  for await (const m of knock.messages.list({ source: 'delayed', page_size: 50 })) {
    const id = typeof m.recipient === 'string' ? m.recipient : m.recipient.id;
    if (id.startsWith(prefix)) seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  checked = 0;
  wrong = [];
  for (let t = 0; t < triggers.length; t++) {
    for (let n = 0; n < triggers[t]; n++) {
      const want = expected(t, n);
      const got = seen.get(`${prefix}${t}-${n}`) ?? 0;
      if (got > 1) wrong.push(`${prefix}${t}-${n} fired ${got} times`);
      if (want === null) continue;
      checked++;
      if (got !== want) wrong.push(`${prefix}${t}-${n} fired ${got} times, expected ${want}`);
    }
  }
  if (wrong.length === 0) break;
  await sleep(1000); // wake-ups still on their way
}
console.log(
  `herald wrk: correctness on ${checked} keys: ${wrong.length === 0 ? 'every uncancelled run fired exactly once, no cancelled one fired' : `${wrong.length} wrong, e.g. ${wrong.slice(0, 3).join('; ')}`}`,
);
process.exit(wrong.length === 0 ? 0 : 1);
