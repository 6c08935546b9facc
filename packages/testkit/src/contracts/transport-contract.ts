import { CursorVersion, type Event, type LiveBatch, type Transport } from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectSyncError } from '../fixtures/expect-sync-error.js';
import { TestEvents } from '../fixtures/test-events.js';

/** A server with an empty log, and a way to connect clients to it. */
export interface TransportHarness {
  /** A transport for a client; every transport of one harness talks to the same empty log. */
  transport(clientId: string): Transport | Promise<Transport>;
  /** Stops the server and releases everything `setup` made. */
  close(): void | Promise<void>;
}

/** Options of {@link describeTransportContract}. */
export interface TransportContractOptions {
  /** A fresh harness for each test. */
  setup(): TransportHarness | Promise<TransportHarness>;
  /**
   * How long to wait for a live batch before failing, in milliseconds.
   *
   * @defaultValue 5000
   */
  readonly liveTimeoutMs?: number;
}

/**
 * The contract every {@link Transport} keeps: per-event push results, paged pulls, the latest version,
 * live batches in order with none twice, aborts and close.
 *
 * @example
 * ```ts
 * describeTransportContract('MemoryNetwork', {
 *   setup: () => {
 *     const network = new MemoryNetwork();
 *     return { transport: (id) => network.transport(id), close: () => network.close() };
 *   },
 * });
 * ```
 */
export function describeTransportContract(name: string, options: TransportContractOptions): void {
  const liveTimeoutMs = options.liveTimeoutMs ?? 5000;

  describe(`${name} keeps the Transport contract`, () => {
    let harness: TransportHarness;
    let transports: Transport[];
    let alice: TestEvents;
    let bob: TestEvents;

    beforeEach(async () => {
      harness = await options.setup();
      transports = [];
      alice = new TestEvents({ clientId: 'alice' });
      bob = new TestEvents({ clientId: 'bob' });
    });

    afterEach(async () => {
      for (const transport of transports) await transport.close();
      await harness.close();
    });

    async function connect(clientId: string): Promise<Transport> {
      const transport = await harness.transport(clientId);
      transports.push(transport);
      return transport;
    }

    it('answers a push per event, in order: accepted at new versions, then duplicate', async () => {
      const transport = await connect('alice');
      const batch = alice.many(3);
      const results = await transport.push(batch);
      expect(results.map((result) => [result.id, result.status])).toEqual(batch.map((event) => [event.id, 'accepted']));
      expect(results.map((result) => ('version' in result ? result.version.toString() : ''))).toEqual(['1', '2', '3']);
      const again = await transport.push([batch[1]!]);
      expect(again[0]).toMatchObject({ id: batch[1]!.id, status: 'duplicate' });
      expect(again[0]?.status === 'duplicate' && again[0].version.toString()).toBe('2');
    });

    it('carries conflict and rejected results with their reasons', async () => {
      const a = await connect('alice');
      const b = await connect('bob');
      await a.push([alice.make('todo-1')]);
      const results = await b.push([
        bob.make('todo-1', { metadata: { baseVersion: '0' } }),
        { ...bob.make('x'), type: '' },
      ]);
      expect(results.map((result) => result.status)).toEqual(['conflict', 'rejected']);
      expect(results[0]?.status === 'conflict' && results[0].latest.toString()).toBe('1');
      expect(results[1]).toMatchObject({ code: 'invalid_event' });
    });

    it('pulls pages strictly after a cursor until hasMore is false', async () => {
      const transport = await connect('alice');
      const batch = alice.many(12, 3);
      await transport.push(batch);
      const seen: Event[] = [];
      let since = CursorVersion.ZERO;
      for (let guard = 0; guard < 100; guard++) {
        const page = await transport.pull(since, { limit: 5 });
        expect(page.events.length).toBeLessThanOrEqual(5);
        seen.push(...page.events.map((item) => item.event));
        since = page.next;
        if (!page.hasMore) break;
      }
      expect(seen.map((event) => event.id)).toEqual(batch.map((event) => event.id));
      expect(seen[0]?.data).toEqual(batch[0]?.data);
      expect((await transport.pull(since)).events).toEqual([]);
    });

    it('reports the latest version', async () => {
      const transport = await connect('alice');
      expect((await transport.latestVersion()).isZero()).toBe(true);
      await transport.push(alice.many(4));
      expect((await transport.latestVersion()).toString()).toBe('4');
    });

    it("delivers other clients' events live, in order, none twice", async () => {
      const a = await connect('alice');
      const b = await connect('bob');
      const batches: LiveBatch[] = [];
      let live!: () => void;
      const isLive = new Promise<void>((resolve) => (live = resolve));
      const subscription = a.subscribe((batch) => void batches.push(batch), {
        since: CursorVersion.ZERO,
        onStateChange: (state) => state === 'live' && live(),
      });
      await isLive;
      const sent = [...bob.many(3), ...bob.many(2)];
      await b.push(sent.slice(0, 3));
      await b.push(sent.slice(3));
      await waitFor(() => batches.flatMap((batch) => batch.events).length >= sent.length, liveTimeoutMs);
      const received = batches.flatMap((batch) => batch.events);
      expect(received.map((item) => item.event.id)).toEqual(sent.map((event) => event.id));
      expect(received.map((item) => item.version.toString())).toEqual(['1', '2', '3', '4', '5']);
      expect(batches.at(-1)?.cursor.toString()).toBe('5');
      subscription.close();
      subscription.close();
    });

    it('resumes a subscription from `since`, delivering what came after it', async () => {
      const a = await connect('alice');
      const sent = alice.many(5);
      await a.push(sent);
      const received: string[] = [];
      const subscription = a.subscribe((batch) => void received.push(...batch.events.map((item) => item.event.id)), {
        since: CursorVersion.of(2),
      });
      await waitFor(() => received.length >= 3, liveTimeoutMs);
      expect(received).toEqual(sent.slice(2).map((event) => event.id));
      subscription.close();
    });

    it('rejects with the signal reason when the signal is aborted', async () => {
      const transport = await connect('alice');
      const controller = new AbortController();
      const reason = new Error('stop');
      controller.abort(reason);
      await expect(transport.push(alice.many(1), { signal: controller.signal })).rejects.toBe(reason);
      await expect(transport.pull(CursorVersion.ZERO, { signal: controller.signal })).rejects.toBe(reason);
      await expect(transport.latestVersion({ signal: controller.signal })).rejects.toBe(reason);
    });

    it('fails every call with a closed error after close, and closes twice without error', async () => {
      const transport = await connect('alice');
      await transport.close();
      await transport.close();
      await expectSyncError(() => transport.push(alice.many(1)), 'closed');
      await expectSyncError(() => transport.pull(CursorVersion.ZERO), 'closed');
      await expectSyncError(() => transport.latestVersion(), 'closed');
    });
  });
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for live events`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
