// The peer workload on BullMQ: n delayed jobs (20 s) added 50 at a time through BullMQ's own
// client, half of them removed, then every job that fires is counted. Prints the figures and a
// JSON line for the summary. Usage: node bullmq.mjs <redis port> <label> [n]
import { Queue, Worker } from 'bullmq';
import { figures, lateness, load, sleep } from './common.mjs';

const [port, label, count] = process.argv.slice(2);
const n = Number(count ?? 5000);
const IN_FLIGHT = 50;
const DELAY_MS = 20000;
const connection = { host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: null };
const queue = new Queue('reminders', { connection });
await queue.waitUntilReady();

// Jobs fired, by id, with how late each was (picked up by a worker after it fell due).
const fired = new Map();
const late = [];
const worker = new Worker(
  'reminders',
  async (job) => {
    fired.set(job.id, (fired.get(job.id) ?? 0) + 1);
    late.push(job.processedOn - (job.timestamp + job.opts.delay));
  },
  { connection, concurrency: IN_FLIGHT },
);
await worker.waitUntilReady();

const add = await load(n, IN_FLIGHT, (i) =>
  queue.add('remind', { recipient: `u${i}`, n: i }, { jobId: `k${i}`, delay: DELAY_MS }),
);
const added = figures(`bullmq ${label}: add delayed job (${n})`, add);
const cancelled = Math.ceil(n / 2);
const remove = await load(cancelled, IN_FLIGHT, (i) => queue.remove(`k${i * 2}`));
const removed = figures(`bullmq ${label}: remove job (${cancelled})`, remove);

const deadline = Date.now() + DELAY_MS + 60000;
while (fired.size < n - cancelled && Date.now() < deadline) await sleep(100);
await sleep(500); // anything extra that would still fire
let wrong = 0;
for (let i = 0; i < n; i++) {
  const times = fired.get(`k${i}`) ?? 0;
  if (times !== (i % 2 === 0 ? 0 : 1)) wrong++;
}
const woke = lateness(`bullmq ${label}: wake-up lateness (${late.length})`, late);
console.log(
  `bullmq ${label}: correctness: ${wrong === 0 ? 'every kept job fired exactly once, no removed one fired' : `${wrong} jobs fired wrongly`}`,
);
console.log(`SUMMARY ${JSON.stringify({ system: `bullmq-${label}`, add: added, remove: removed, lateness: woke, wrong })}`);
await worker.close();
await queue.close();
process.exit(wrong === 0 ? 0 : 1);
