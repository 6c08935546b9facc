import {
  CursorVersion,
  MemoryServerEventLog,
  type AppendResult,
  type LiveBatch,
  type SubscriptionState,
} from '@eventsync/core';
import { createSyncHandler, serve, type RunningServer, type SyncHandlerOptions } from '@eventsync/server';
import { describeTransportContract, expectSyncError, TestEvents } from '@eventsync/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpTransport, type HttpTransportOptions } from '../src/index.js';

// HttpTransport against the real server: createSyncHandler on node:http at 127.0.0.1, port 0.

const TOKEN = 'contract-token';
const fastStream = { initialDelayMs: 5, maxDelayMs: 100 };

async function start(options: Partial<SyncHandlerOptions<string>> = {}) {
  const store = new MemoryServerEventLog();
  const handler = createSyncHandler<string>({
    store,
    tokens: { [TOKEN]: { principal: 'tester', tenant: 'acme' } },
    sse: { retryMs: 5 },
    ...options,
  });
  const running = await serve(handler, { port: 0, host: '127.0.0.1', shutdownTimeoutMs: 200 });
  return { store, handler, running };
}

describeTransportContract('HttpTransport (real server on 127.0.0.1)', {
  setup: async () => {
    const { store, running } = await start();
    return {
      transport: () =>
        new HttpTransport({ baseUrl: running.url, token: () => TOKEN, timeoutMs: 5000, stream: fastStream }),
      close: async () => {
        await running.close();
        await store.close();
      },
    };
  },
});

describe('HttpTransport with the real server', () => {
  let running: RunningServer | undefined;
  const transports: HttpTransport[] = [];
  const alice = new TestEvents({ clientId: 'alice' });

  afterEach(async () => {
    for (const transport of transports.splice(0)) await transport.close();
    await running?.close();
  });

  function connect(url: string, options: Partial<HttpTransportOptions> = {}): HttpTransport {
    const transport = new HttpTransport({
      baseUrl: url,
      token: () => TOKEN,
      timeoutMs: 5000,
      stream: fastStream,
      ...options,
    });
    transports.push(transport);
    return transport;
  }

  it('pushes gzip bodies the server reads', async () => {
    ({ running } = await start());
    const batch = alice.many(20);
    const results = await connect(running.url, { gzipMinBytes: 0 }).push(batch);
    expect(results.map((result) => result.status)).toEqual(batch.map(() => 'accepted'));
  });

  it("learns the server's maxEventsPerPush from its 413", async () => {
    ({ running } = await start({ limits: { maxEventsPerPush: 3 } }));
    const batch = alice.many(8);
    const results = await connect(running.url).push(batch);
    expect(results.map((result) => ('version' in result ? result.version.value : 0))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('pushes a long push as a chain the server decides in order, with the results of one request after the other', async () => {
    const bob = new TestEvents({ clientId: 'bob' });
    const conflicting = bob.make('todo-1');
    const batch = [
      alice.make('todo-1', { metadata: { baseVersion: '0' } }),
      ...alice.many(3, 3),
      alice.make('todo-1'),
      ...alice.many(4, 2),
      alice.make('todo-1'),
    ];
    const runs: { results: AppendResult[]; stored: string[] }[] = [];
    const seqs: (number | undefined)[][] = [];
    for (const pushWindow of [1, 4]) {
      let store: MemoryServerEventLog;
      ({ running, store } = await start());
      await store.append('acme', [conflicting]);
      const sent: (number | undefined)[] = [];
      const fetch: typeof globalThis.fetch = (input, init) => {
        const body = typeof init?.body === 'string' ? init.body : '{}';
        sent.push((JSON.parse(body) as { chain?: { seq: number } }).chain?.seq);
        return globalThis.fetch(input, init);
      };
      const results = await connect(running.url, { maxBatchSize: 2, pushWindow, fetch }).push(batch);
      const page = await store.read('acme', { since: CursorVersion.ZERO, limit: 100 });
      runs.push({ results, stored: page.events.map((item) => item.event.id) });
      seqs.push(sent);
      await running.close();
      running = undefined;
    }
    const [sequential, chained] = runs;
    // One request after the other, then one chain the server took (no request sent twice).
    expect(seqs).toEqual([Array<undefined>(5).fill(undefined), [0, 1, 2, 3, 4]]);
    expect(chained).toEqual(sequential);
    expect(chained?.results.map((result) => result.status)).toEqual([
      'conflict',
      ...Array<string>(3).fill('accepted'),
      'conflict',
      ...Array<string>(4).fill('accepted'),
      'conflict',
    ]);
    expect(chained?.stored).toEqual([
      conflicting.id,
      ...batch.filter((event) => event.aggregateId !== 'todo-1').map((event) => event.id),
    ]);
  });

  it('refreshes a refused token once, and fails with unauthorized when that does not help', async () => {
    ({ running } = await start());
    const asked: boolean[] = [];
    const transport = connect(running.url, {
      token: ({ refresh }) => {
        asked.push(refresh);
        return refresh ? TOKEN : 'expired';
      },
    });
    expect((await transport.latestVersion()).isZero()).toBe(true);
    expect(asked).toEqual([false, true]);
    const error = await expectSyncError(
      () => connect(running!.url, { token: () => 'wrong' }).latestVersion(),
      'unauthorized',
    );
    expect(error.details.status).toBe(401);
  });

  it('maps a pull limit above maxPullLimit to limit_exceeded naming it', async () => {
    ({ running } = await start({ limits: { maxPullLimit: 10 } }));
    const error = await expectSyncError(
      () => connect(running!.url).pull(CursorVersion.ZERO, { limit: 11 }),
      'limit_exceeded',
    );
    expect(error.details).toMatchObject({ status: 400, limit: 'maxPullLimit', max: 10 });
  });

  it('resumes the live stream after the server cuts every connection: none lost, none twice', async () => {
    let store: MemoryServerEventLog;
    ({ running, store } = await start());
    const received: LiveBatch[] = [];
    const states: SubscriptionState[] = [];
    connect(running.url).subscribe((batch) => void received.push(batch), {
      since: CursorVersion.ZERO,
      onStateChange: (state) => states.push(state),
    });
    const until = async (condition: () => boolean, what: string): Promise<void> => {
      const deadline = Date.now() + 5000;
      while (!condition()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    };
    await until(() => states.includes('live'), 'live');
    const sent = alice.many(6);
    await store.append('acme', sent.slice(0, 3));
    await until(() => received.flatMap((batch) => batch.events).length === 3, 'three events');
    running.server.closeAllConnections();
    await store.append('acme', sent.slice(3));
    await until(() => received.flatMap((batch) => batch.events).length >= 6, 'six events');
    await new Promise((resolve) => setTimeout(resolve, 30));
    const events = received.flatMap((batch) => batch.events);
    expect(events.map((item) => item.event.id)).toEqual(sent.map((event) => event.id));
    expect(events.map((item) => item.version.value)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(states).toEqual(['connecting', 'live', 'connecting', 'live']);
  });
});
