// IndexedDbEventStore against raw IndexedDB, in Chromium with IndexedDB on disk (a persistent
// profile in a temporary directory), the workloads of issue #4. Each sample runs inside the page;
// Node times the one `page.evaluate` around it (a millisecond of the sample's hundreds).

import { fileURLToPath } from 'node:url';
import type { CDPSession, Page } from 'playwright-core';
import { defineBenchmark, type BenchmarkSide, type SampleMetrics } from '../../bench/src/index.js';
import { chromiumRequired, findChromium, launchChromium, type ChromiumSession } from '../test/support/chromium.js';
import type { Side, Workload } from './support/bench-page.js';

const entry = fileURLToPath(new URL('./support/bench-page.ts', import.meta.url));
const MiB = 2 ** 20;

/** Why these benchmarks cannot run here; in CI a missing Chromium is not a reason, but a failure. */
const skip =
  findChromium() || chromiumRequired()
    ? undefined
    : 'no Chromium: apt-get install chromium, or set EVENTSYNC_CHROMIUM to a Chromium binary';

interface Browser {
  readonly session: ChromiumSession;
  readonly page: Page;
  readonly cdp: CDPSession;
}

async function startBrowser(fixtureSize: number): Promise<Browser> {
  const session = await launchChromium({ entry, global: 'eventsyncBench' });
  try {
    const page = await session.newPage();
    page.setDefaultTimeout(600_000);
    const cdp = await session.context.newCDPSession(page);
    await page.evaluate((size) => window.eventsyncBench.makeFixture(size), fixtureSize);
    return { session, page, cdp };
  } catch (error) {
    await session.close();
    throw error;
  }
}

/** The page's JS heap in use after a full collection, through the DevTools protocol. */
async function heapUsed(cdp: CDPSession): Promise<number> {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
}

interface SideState {
  /** The heap in use before the sample, after a full collection. */
  heapBefore: number;
  /** The most heap in use seen during the sample (sampled every 100 ms, no collection forced). */
  heapPeak: number;
}

/**
 * One side of a comparison: prepared, run and checked in the page. Metrics: the heap the sample left
 * behind (after a full collection, the store still open) and, with `watchHeap`, the highest heap seen
 * while it ran.
 */
function side(name: string, kind: Side, workload: Workload, watchHeap = false): BenchmarkSide<Browser, SideState> {
  return {
    name,
    async setup({ fixture }) {
      await fixture.page.evaluate(([s, w]) => window.eventsyncBench.prepare(s, w), [kind, workload] as const);
      const heapBefore = await heapUsed(fixture.cdp);
      return { heapBefore, heapPeak: heapBefore };
    },
    async run({ fixture, size }, state) {
      const watcher = watchHeap
        ? setInterval(() => {
            fixture.cdp.send('Runtime.getHeapUsage').then(
              ({ usedSize }) => (state.heapPeak = Math.max(state.heapPeak, usedSize)),
              () => {},
            );
          }, 100)
        : undefined;
      try {
        const done = await fixture.page.evaluate((n) => window.eventsyncBench.run(n), size);
        if (done !== size) throw new Error(`${name} did ${done} of ${size} events`);
      } finally {
        clearInterval(watcher);
      }
    },
    async after({ fixture, size }, state): Promise<SampleMetrics> {
      const held = await fixture.page.evaluate(() => window.eventsyncBench.check());
      if (held !== size) throw new Error(`${name} holds ${held} events, not ${size}`);
      const retained = ((await heapUsed(fixture.cdp)) - state.heapBefore) / MiB;
      await fixture.page.evaluate(() => window.eventsyncBench.finish());
      return watchHeap
        ? { 'heap retained MiB': retained, 'heap peak growth MiB': (state.heapPeak - state.heapBefore) / MiB }
        : { 'heap retained MiB': retained };
    },
  };
}

const teardown = async (browser: Browser): Promise<void> => {
  await browser.session.close();
};

export default [
  defineBenchmark({
    name: 'idb/append.batches',
    description: 'appendLocal in batches of 1,000 vs raw IndexedDB puts, one record per event, 1,000 per transaction',
    units: 'events',
    skip,
    size: 100_000,
    repeat: 3,
    warmup: 1,
    target: { min: 0.9, note: 'issue #4: batched appends at least 0.9× raw per-record puts' },
    setup: (size) => startBrowser(size),
    baseline: side('raw put ×1,000 per tx', 'raw', 'appendBatches'),
    subject: side('IndexedDbEventStore.appendLocal', 'store', 'appendBatches'),
    teardown,
  }),
  defineBenchmark({
    name: 'idb/append.concurrent',
    description:
      'concurrent awaited single appendLocal calls (group commit) vs raw one-record transactions, concurrent',
    units: 'events',
    skip,
    size: 10_000,
    repeat: 3,
    warmup: 1,
    target: { min: 5, note: 'issue #4: 10k concurrent single appends at least 5× raw one-record transactions' },
    setup: (size) => startBrowser(size),
    baseline: side('raw put, 1 per tx', 'raw', 'appendSingles'),
    subject: side('appendLocal([event]) ×N', 'store', 'appendSingles'),
    teardown,
  }),
  defineBenchmark({
    name: 'idb/pull.pages',
    description: 'applyPulled of pages of 1,000 with their cursor vs raw per-record puts of the page and its cursor',
    units: 'events',
    skip,
    size: 100_000,
    repeat: 3,
    warmup: 1,
    target: { min: 6, note: 'issue #4: initial sync at least 6× raw per-record puts' },
    setup: (size) => startBrowser(size),
    baseline: side('raw put ×1,000 + cursor per tx', 'raw', 'pullPages'),
    subject: side('IndexedDbEventStore.applyPulled', 'store', 'pullPages'),
    teardown,
  }),
  defineBenchmark({
    name: 'idb/read.all',
    description: 'load(ZERO) of the whole log in order vs raw getAll of one record per event',
    units: 'events',
    skip,
    size: 100_000,
    repeat: 3,
    warmup: 1,
    target: { min: 0.8, note: 'issue #4: reading in order at least 0.8× raw getAll' },
    setup: (size) => startBrowser(size),
    baseline: side('raw getAll', 'raw', 'readAll'),
    subject: side('IndexedDbEventStore.load', 'store', 'readAll'),
    teardown,
  }),
  defineBenchmark({
    name: 'idb/pull.heap',
    description:
      'applyPulled of 1M events in pages of 1,000 vs raw one record per page (the raw limit); ' +
      'the page heap must grow < 64 MiB (issue #4)',
    units: 'events',
    skip,
    size: 1_000_000,
    repeat: 1,
    warmup: 0,
    setup: () => startBrowser(1),
    baseline: side('raw put, 1 record per page', 'raw', 'pullHeap', true),
    subject: side('IndexedDbEventStore.applyPulled', 'store', 'pullHeap', true),
    teardown,
  }),
];
