// Small helpers the SDK test files share.

/** A name no other test run uses. */
export const unique = (p) => `${p}-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns something truthy (runs are asynchronous, as in Knock). */
export async function eventually(what, check, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Every item of an auto-paginating SDK list. */
export async function all(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}
