// What the sync server's memory does under a long read and under many idle streams, measured in the
// server's own process (its RSS, reported by bench-server.ts), never in the client's.

import { CursorVersion, type SubscriptionState, type TransportSubscription } from '@eventsync/core';
import { defineBenchmark } from '@eventsync/bench';
import { HttpTransport } from '@eventsync/http';
import {
  BENCH_TOKEN,
  MiB,
  openRawStream,
  sleep,
  startBenchServer,
  workspace,
  type BenchServer,
} from './bench-support.js';

const PAGE = 1_000;

/** A fresh server process on `path`, warmed up by one small read, its RSS measured after a full GC. */
async function freshServer(path: string): Promise<{ server: BenchServer; before: number }> {
  const server = await startBenchServer();
  await server.open(path);
  const warm = await fetch(`${server.syncUrl}/v1/events?since=0&limit=10`, {
    headers: { Authorization: `Bearer ${BENCH_TOKEN}` },
  });
  await warm.text();
  await server.resetPeak();
  return { server, before: (await server.memory(true)).rss };
}

function transport(server: BenchServer): HttpTransport {
  return new HttpTransport({
    baseUrl: server.syncUrl,
    token: () => BENCH_TOKEN,
    headers: { 'Accept-Encoding': 'identity' },
  });
}

interface ReadState {
  readonly server: BenchServer;
  readonly before: number;
  read: number;
}

/** The server's RSS growth over the sample: its peak (sampled every 5 ms) over the RSS before. */
async function readMetrics(size: number, { server, before, read }: ReadState): Promise<Record<string, number>> {
  const { peakRss, rss } = await server.memory(true);
  await server.stop();
  if (read !== size) throw new Error(`expected to read ${size} events, read ${read}`);
  return {
    'server RSS before MiB': before / MiB,
    'server RSS peak growth MiB': (peakRss - before) / MiB,
    'server RSS growth after GC MiB': (rss - before) / MiB,
  };
}

const readLog = defineBenchmark({
  name: 'server/memory.read-log',
  description:
    `a client reading the whole log from cursor 0 over HTTP in pages of ${PAGE}: the sync server's RSS growth ` +
    `(limit 100 MiB), each side in a fresh server process on the same SQLite file; HttpTransport.pull from the ` +
    `sync server vs fetch + JSON.parse of pages a plain node:http handler builds from SELECT … LIMIT rows`,
  units: 'events',
  size: 1_000_000,
  repeat: 1,
  warmup: 0,
  async setup(size) {
    const files = workspace('memory-read');
    const path = files.newPath();
    const filler = await startBenchServer();
    try {
      await filler.open(path);
      if ((await filler.fill(size)) !== size) throw new Error('the log was not filled');
    } finally {
      await filler.stop();
    }
    return { files, path };
  },
  baseline: {
    name: 'node:http + SELECT pages',
    setup: async ({ fixture }): Promise<ReadState> => ({ ...(await freshServer(fixture.path)), read: 0 }),
    async run(_context, state) {
      let since = '0';
      for (let hasMore = true; hasMore;) {
        const response = await fetch(`${state.server.rawUrl}/raw/log?since=${since}&limit=${PAGE}`);
        const page = JSON.parse(await response.text()) as { events: unknown[]; next: string; hasMore: boolean };
        state.read += page.events.length;
        ({ next: since, hasMore } = page);
      }
    },
    after: ({ size }, state) => readMetrics(size, state),
  },
  subject: {
    name: 'HttpTransport.pull',
    setup: async ({ fixture }): Promise<ReadState> => ({ ...(await freshServer(fixture.path)), read: 0 }),
    async run(_context, state) {
      const client = transport(state.server);
      let since = CursorVersion.ZERO;
      for (let hasMore = true; hasMore;) {
        const page = await client.pull(since, { limit: PAGE });
        state.read += page.events.length;
        ({ next: since, hasMore } = page);
      }
      await client.close();
    },
    after: ({ size }, state) => readMetrics(size, state),
  },
  teardown: ({ files }) => files.remove(),
});

interface IdleState {
  readonly server: BenchServer;
  readonly before: number;
  readonly path: string;
  readonly close: (() => void)[];
}

/** The server's RSS with every stream open and idle, after a full GC, over its RSS before. */
async function idleMetrics(size: number, state: IdleState): Promise<Record<string, number>> {
  await sleep(200);
  const { rss, streams } = await state.server.memory(true);
  for (const close of state.close) close();
  await state.server.stop();
  if (streams !== size && streams !== 0) throw new Error(`expected ${size} open streams, the server counts ${streams}`);
  return {
    'server RSS growth MiB': (rss - state.before) / MiB,
    'per stream KiB': (rss - state.before) / size / 1024,
  };
}

const idleStreams = defineBenchmark({
  name: 'server/memory.idle-streams',
  description:
    `opening 1,000 live streams that then stay idle: the sync server's RSS growth with them all open (limit ` +
    `100 MiB), each sample in a fresh server process; HttpTransport subscriptions to /v1/stream vs bare fetch ` +
    `readers of a plain node:http SSE endpoint`,
  units: 'events',
  size: 1_000,
  repeat: 3,
  warmup: 0,
  setup: () => ({ files: workspace('memory-idle') }),
  baseline: {
    name: 'node:http SSE, bare readers',
    async setup({ fixture }): Promise<IdleState> {
      const path = fixture.files.newPath();
      return { ...(await freshServer(path)), path, close: [] };
    },
    async run({ size }, state) {
      let opened = 0;
      const streams = Array.from({ length: size }, async () => {
        const controller = new AbortController();
        state.close.push(() => controller.abort());
        let first = true;
        await new Promise<void>((resolve, reject) => {
          openRawStream(
            `${state.server.rawUrl}/raw/stream`,
            () => {
              if (!first) return;
              first = false;
              opened++;
              resolve();
            },
            controller.signal,
          ).catch(reject);
        });
      });
      await Promise.all(streams);
      if (opened !== size) throw new Error(`opened ${opened} of ${size} streams`);
    },
    after: async ({ size }, state) => idleMetrics(size, state),
  },
  subject: {
    name: 'HttpTransport.subscribe',
    async setup({ fixture }): Promise<IdleState> {
      const path = fixture.files.newPath();
      return { ...(await freshServer(path)), path, close: [] };
    },
    async run({ size }, state) {
      const subscriptions: TransportSubscription[] = [];
      const clients: HttpTransport[] = [];
      const states: SubscriptionState[] = [];
      for (let i = 0; i < size; i++) {
        const client = new HttpTransport({ baseUrl: state.server.syncUrl, token: () => BENCH_TOKEN });
        clients.push(client);
        states.push('connecting');
        subscriptions.push(client.subscribe(() => {}, { onStateChange: (next) => (states[i] = next) }));
      }
      state.close.push(() => {
        for (const subscription of subscriptions) subscription.close();
        for (const client of clients) void client.close();
      });
      const deadline = Date.now() + 30_000;
      while (
        (states.some((value) => value !== 'live') || (await state.server.memory(false)).streams < size) &&
        Date.now() < deadline
      ) {
        await sleep(10);
      }
      const live = states.filter((value) => value === 'live').length;
      if (live !== size) throw new Error(`only ${live} of ${size} subscriptions are live`);
    },
    after: async ({ size }, state) => idleMetrics(size, state),
  },
  teardown: ({ files }) => files.remove(),
});

export default [readLog, idleStreams];
