import { CursorVersion } from '@eventsync/core';

/** `CursorVersion.of(n)`, short for the tables of the contract suites. */
export const v = (n: number): CursorVersion => CursorVersion.of(n);

/** Waits `ms` of real time, so that work an implementation queued (timers, I/O) can run. */
export function settle(ms = 1): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` until it holds; fails after `timeoutMs` saying what it was waiting for. */
export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await settle(2);
  }
}
