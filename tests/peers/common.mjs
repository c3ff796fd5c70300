// What the two Node clients share: a pool of requests in flight, and the figures printed.

/** Runs `task(i)` for i in 0..n, `inFlight` at a time: requests/s and each latency (ms, sorted). */
export async function load(n, inFlight, task) {
  const ms = new Array(n);
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    for (let i = next++; i < n; i = next++) {
      const t = performance.now();
      await task(i);
      ms[i] = performance.now() - t;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  const rate = n / ((performance.now() - started) / 1000);
  ms.sort((a, b) => a - b);
  return { rate, ms };
}

export const percentile = (sorted, p) => sorted[Math.round((sorted.length - 1) * p)];

/** Rate and latencies as the bench prints them, and as JSON for the summary. */
export function figures(name, { rate, ms }) {
  const f = { rate, p50: percentile(ms, 0.5), p99: percentile(ms, 0.99), max: ms[ms.length - 1] };
  console.log(
    `${name.padEnd(44)} ${rate.toFixed(0).padStart(7)}/s  p50=${f.p50.toFixed(2).padStart(7)} ms  p99=${f.p99.toFixed(2).padStart(7)} ms  max=${f.max.toFixed(2).padStart(7)} ms`,
  );
  return f;
}

export function lateness(name, late) {
  late.sort((a, b) => a - b);
  const f = { p50: percentile(late, 0.5), p99: percentile(late, 0.99), max: late[late.length - 1] };
  console.log(
    `${name.padEnd(44)} p50=${f.p50.toFixed(2).padStart(7)} ms  p99=${f.p99.toFixed(2).padStart(7)} ms  max=${f.max.toFixed(2).padStart(7)} ms`,
  );
  return f;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
