import {
  CursorVersion,
  type Event,
  type LiveBatch,
  type SubscribeOptions,
  type SubscriptionState,
  type Transport,
  type TransportSubscription,
} from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectSyncError } from '../fixtures/expect-sync-error.js';
import { TestEvents } from '../fixtures/test-events.js';
import { settle, waitFor } from './support.js';

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

    /** Subscribes and waits until the subscription says it is live; `states` records every state. */
    async function subscribeLive(
      transport: Transport,
      handler: (batch: LiveBatch) => void | Promise<void>,
      options: Omit<SubscribeOptions, 'onStateChange'> = {},
    ): Promise<{ subscription: TransportSubscription; states: SubscriptionState[] }> {
      const states: SubscriptionState[] = [];
      const subscription = transport.subscribe(handler, { ...options, onStateChange: (state) => states.push(state) });
      await waitFor(() => states.includes('live'), liveTimeoutMs, "the subscription's 'live' state");
      return { subscription, states };
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
      const { subscription } = await subscribeLive(a, (batch) => void batches.push(batch), {
        since: CursorVersion.ZERO,
      });
      const sent = [...bob.many(3), ...bob.many(2)];
      await b.push(sent.slice(0, 3));
      await b.push(sent.slice(3));
      await waitFor(() => batches.flatMap((batch) => batch.events).length >= sent.length, liveTimeoutMs, 'live events');
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
      await waitFor(() => received.length >= 3, liveTimeoutMs, 'live events');
      expect(received).toEqual(sent.slice(2).map((event) => event.id));
      subscription.close();
    });

    it("starts a subscription without `since` at the server's latest cursor", async () => {
      const a = await connect('alice');
      await a.push(alice.many(2));
      const received: LiveBatch[] = [];
      const { subscription } = await subscribeLive(a, (batch) => void received.push(batch));
      const fresh = alice.make('x');
      await a.push([fresh]);
      await waitFor(() => received.length > 0, liveTimeoutMs, 'live events');
      await settle(20);
      expect(received.flatMap((batch) => batch.events.map((item) => item.event.id))).toEqual([fresh.id]);
      expect(received.flatMap((batch) => batch.events.map((item) => item.version.toString()))).toEqual(['3']);
      subscription.close();
    });

    it('runs the handler one batch at a time: the next batch waits for the promise it returned', async () => {
      const a = await connect('alice');
      const b = await connect('bob');
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const calls: string[][] = [];
      let running = 0;
      let overlapped = false;
      const { subscription } = await subscribeLive(a, async (batch) => {
        overlapped ||= running > 0;
        running++;
        calls.push(batch.events.map((item) => item.event.id));
        if (calls.length === 1) await released;
        running--;
      });
      const first = bob.make('x');
      await b.push([first]);
      await waitFor(() => calls.length === 1, liveTimeoutMs, 'the first live batch');
      const second = bob.make('y');
      await b.push([second]);
      await settle(50);
      expect(calls).toHaveLength(1);
      release();
      await waitFor(() => calls.length === 2, liveTimeoutMs, 'the second live batch');
      expect(calls).toEqual([[first.id], [second.id]]);
      expect(overlapped).toBe(false);
      subscription.close();
    });

    it('pulls with a filter, and moves `next` past what the filter skipped', async () => {
      const transport = await connect('alice');
      const batch = [
        alice.make('a', { type: 'keep' }),
        alice.make('b', { type: 'skip' }),
        alice.make('c', { type: 'skip' }),
      ];
      await transport.push(batch);
      const page = await transport.pull(CursorVersion.ZERO, { filter: { type: 'keep' } });
      expect(page.events.map((item) => item.event.id)).toEqual([batch[0]!.id]);
      expect(page.next.toString()).toBe('3');
      expect(page.hasMore).toBe(false);
      const onB = await transport.pull(CursorVersion.ZERO, { filter: { aggregateId: ['b'] } });
      expect(onB.events.map((item) => item.version.toString())).toEqual(['2']);
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
      await expectSyncError(() => transport.subscribe(() => undefined), 'closed');
    });

    it('closes its open subscriptions when it is closed: they say so and deliver nothing more', async () => {
      const a = await connect('alice');
      const b = await connect('bob');
      const received: LiveBatch[] = [];
      const { states } = await subscribeLive(a, (batch) => void received.push(batch));
      await a.close();
      await waitFor(() => states.at(-1) === 'closed', liveTimeoutMs, "the subscription's 'closed' state");
      await b.push(bob.many(2));
      await settle(50);
      expect(received).toEqual([]);
    });
  });
}
