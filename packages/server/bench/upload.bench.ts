import { alwaysOnline, MemoryEventStore, SyncManager, type EventInput } from '@eventsync/core';
import { defineBenchmark, type BenchmarkSide } from '@eventsync/bench';
import { HttpTransport } from '@eventsync/http';
import { BENCH_TOKEN, startBenchServer, workspace } from './bench-support.js';

/** The time added before each request leaves: a round trip of a client on a real network. */
const LATENCY_MS = 20;

/** `fetch`, each request sent `LATENCY_MS` late. */
const distantFetch: typeof fetch = async (input, init) => {
  await new Promise((resolve) => setTimeout(resolve, LATENCY_MS));
  return fetch(input, init);
};

interface UploadState {
  readonly path: string;
  readonly manager: SyncManager;
  readonly transport: HttpTransport;
  pushed: number;
}

/** One side: a `SyncManager` with `size` events in its outbox, over `HttpTransport` to a fresh log. */
function upload(name: string, pushBatchSize: number | undefined): BenchmarkSide<UploadFixture, UploadState> {
  return {
    name,
    async setup({ fixture }) {
      const path = fixture.files.newPath();
      await fixture.server.open(path);
      const transport = new HttpTransport({
        baseUrl: fixture.server.syncUrl,
        token: () => BENCH_TOKEN,
        headers: { 'Accept-Encoding': 'identity' },
        fetch: distantFetch,
      });
      const manager = new SyncManager({
        store: new MemoryEventStore(),
        transport,
        clientId: 'bench-uploader',
        connectivity: alwaysOnline,
        ...(pushBatchSize === undefined ? {} : { pushBatchSize }),
      });
      for (const drafts of fixture.drafts) await manager.append(drafts);
      return { path, manager, transport, pushed: 0 };
    },
    async run(_context, state) {
      state.pushed = (await state.manager.sync()).pushed;
    },
    async after({ size, fixture }, { path, manager, transport, pushed }) {
      const pending = manager.status.pending;
      await manager.close();
      await transport.close();
      await fixture.server.open(fixture.files.newPath()); // closes this sample's file
      fixture.files.removeFile(path);
      if (pushed !== size || pending !== 0)
        throw new Error(`expected ${size} events pushed, got ${pushed} (${pending} left)`);
    },
  };
}

type UploadFixture = Awaited<ReturnType<typeof uploadFixture>>;

async function uploadFixture(size: number) {
  const drafts: EventInput[][] = [];
  for (let i = 0; i < size; i += 1_000) {
    drafts.push(
      Array.from({ length: Math.min(1_000, size - i) }, (_, j) => ({
        type: 'todo.added',
        aggregateId: `todo-${(i + j) % 1_000}`,
        data: { title: `Buy milk #${i + j}`, done: false },
      })),
    );
  }
  return { drafts, files: workspace('sync-upload'), server: await startBenchServer() };
}

export default defineBenchmark({
  name: 'server/sync.upload',
  description:
    `SyncManager.sync() of an outbox of offline events over HttpTransport to the sync server on SQLite, each ` +
    `request sent ${LATENCY_MS} ms late (a client on a real network): the defaults (batches of the transport's ` +
    `preferredPushSize, 8,000, each a push chain of requests of 1,000, up to 4 at once) vs pushBatchSize 1000: ` +
    `the same requests of 1,000, one at a time`,
  units: 'events',
  size: 20_000,
  repeat: 5,
  warmup: 1,
  setup: uploadFixture,
  baseline: upload('pushBatchSize 1000', 1_000),
  subject: upload('defaults (push chains)', undefined),
  async teardown({ files, server }) {
    await server.stop();
    files.remove();
  },
});
