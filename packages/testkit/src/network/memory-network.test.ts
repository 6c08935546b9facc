import {
  CursorVersion,
  isSyncError,
  MemoryServerEventLog,
  SyncError,
  type Event,
  type LiveBatch,
  type SubscriptionState,
} from '@eventsync/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock/fake-clock.js';
import { propertyOptions } from '../fixtures/property-options.js';
import { TestEvents } from '../fixtures/test-events.js';
import { MemoryNetwork, type FaultOptions } from './memory-network.js';

function eventsOf(clientId: string): (aggregateId?: string) => Event {
  const events = new TestEvents({ clientId });
  return (aggregateId = `${clientId}-agg`) => events.make(aggregateId);
}

/** Lets every pending promise reaction and zero-delay work of the network run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function errorOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

interface Recorder {
  readonly batches: LiveBatch[];
  readonly states: { state: SubscriptionState; code?: string }[];
  ids(): string[];
  versions(): number[];
}

function recorder(): Recorder & {
  handler: (batch: LiveBatch) => void;
  onStateChange: (s: SubscriptionState, e?: SyncError) => void;
} {
  const batches: LiveBatch[] = [];
  const states: { state: SubscriptionState; code?: string }[] = [];
  return {
    batches,
    states,
    handler: (batch) => void batches.push(batch),
    onStateChange: (state, error) => void states.push(error ? { state, code: error.code } : { state }),
    ids: () => batches.flatMap((batch) => batch.events.map((item) => item.event.id)),
    versions: () => batches.flatMap((batch) => batch.events.map((item) => item.version.value)),
  };
}

describe('MemoryNetwork', () => {
  it('pushes to, pulls from and reads the latest version of the log for its tenant', async () => {
    const log = new MemoryServerEventLog();
    const network = new MemoryNetwork({ log, tenant: 'acme' });
    const phone = network.transport('phone');
    const make = eventsOf('phone');
    const [a, b] = [make(), make()];
    const results = await phone.push([a, b]);
    expect(results.map((r) => [r.id, r.status])).toEqual([
      [a.id, 'accepted'],
      [b.id, 'accepted'],
    ]);
    expect(results.map((r) => (r.status === 'accepted' ? r.version.value : -1))).toEqual([1, 2]);
    expect((await phone.latestVersion()).value).toBe(2);
    const page = await phone.pull(CursorVersion.ZERO, { limit: 1 });
    expect(page.events.map((item) => item.event.id)).toEqual([a.id]);
    expect(page.hasMore).toBe(true);
    expect(page.next).toBeInstanceOf(CursorVersion);
    expect((await log.latestVersion('acme')).value).toBe(2);
    expect((await log.latestVersion('default')).value).toBe(0);
    expect(network.log).toBe(log);
    expect(network.tenant).toBe('acme');
  });

  it('answers a push per event, in order, with conflicts and rejections', async () => {
    const network = new MemoryNetwork();
    const a = network.transport('a');
    const b = network.transport('b');
    const makeA = eventsOf('a');
    const makeB = eventsOf('b');
    await a.push([makeA('shared')]);
    const stale = makeB('shared');
    const staleEvent = { ...stale, metadata: { ...stale.metadata, baseVersion: '0' } };
    const bad = { ...makeB(), type: '' };
    const fine = makeB('other');
    const results = await b.push([staleEvent, bad, fine]);
    expect(results.map((r) => r.status)).toEqual(['conflict', 'rejected', 'accepted']);
    expect(results.map((r) => r.id)).toEqual([staleEvent.id, bad.id, fine.id]);
  });

  it('sends copies across the wire, so neither side can change the other', async () => {
    const network = new MemoryNetwork();
    const phone = network.transport('phone');
    const event = eventsOf('phone')();
    const sent = JSON.parse(JSON.stringify(event)) as Event & { data: { n: number } };
    await phone.push([sent]);
    sent.data.n = 99;
    const page = await phone.pull(CursorVersion.ZERO);
    (page.events[0]?.event.data as { n: number }).n = 42;
    const stored = await network.log.read('default');
    expect(stored.events[0]?.event.data).toEqual({ n: 0 });
  });

  it('delivers live batches in order, none twice, under random appends from many clients', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 4 })), {
          minLength: 1,
          maxLength: 15,
        }),
        fc.integer({ min: 1, max: 5 }),
        async (pushes, liveBatchLimit) => {
          const network = new MemoryNetwork({ liveBatchLimit });
          const clients = ['a', 'b', 'c'].map((id) => ({ transport: network.transport(id), make: eventsOf(id) }));
          const live = recorder();
          const subscription = network.transport('watcher').subscribe(live.handler, { since: CursorVersion.ZERO });
          await Promise.all(
            pushes.map(async ([client, count]) => {
              const { transport, make } = clients[client] as (typeof clients)[number];
              await transport.push(Array.from({ length: count }, () => make()));
            }),
          );
          const total = pushes.reduce((sum, [, count]) => sum + count, 0);
          for (let i = 0; i < 100 && live.versions().length < total; i++) await settle();
          expect(live.versions()).toEqual(Array.from({ length: total }, (_, i) => i + 1));
          for (const batch of live.batches) {
            expect(batch.events.length).toBeLessThanOrEqual(liveBatchLimit);
            expect(batch.cursor.value).toBe(batch.events.at(-1)?.version.value);
          }
          subscription.close();
        },
      ),
      propertyOptions({ numRuns: 60, seed: 1 }),
    );
  });

  it('starts a subscription at the log latest when no since is given, and tells it is live', async () => {
    const network = new MemoryNetwork();
    const phone = network.transport('phone');
    const make = eventsOf('phone');
    await phone.push([make(), make()]);
    const live = recorder();
    phone.subscribe(live.handler, { onStateChange: live.onStateChange });
    const fresh = make();
    await phone.push([fresh]);
    await settle();
    expect(live.ids()).toEqual([fresh.id]);
    expect(live.versions()).toEqual([3]);
    expect(live.states).toEqual([{ state: 'live' }]);
  });

  it('waits for the previous handler before delivering the next batch', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork();
    const phone = network.transport('phone');
    const make = eventsOf('phone');
    let running = 0;
    let overlapped = false;
    const seen: number[] = [];
    phone.subscribe(
      async (batch) => {
        running++;
        if (running > 1) overlapped = true;
        await clock.sleep(10);
        seen.push(...batch.events.map((item) => item.version.value));
        running--;
      },
      { since: CursorVersion.ZERO },
    );
    for (let i = 0; i < 5; i++) {
      await phone.push([make()]);
      await settle();
    }
    await clock.advance(100);
    expect(overlapped).toBe(false);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('resumes a partitioned subscription from its cursor after healing, with no gap and no duplicate', async () => {
    const network = new MemoryNetwork();
    const writer = network.transport('writer');
    const phone = network.transport('phone');
    const make = eventsOf('writer');
    const live = recorder();
    phone.subscribe(live.handler, { since: CursorVersion.ZERO, onStateChange: live.onStateChange });
    await writer.push([make(), make()]);
    await settle();
    network.partition('phone');
    expect(network.isPartitioned('phone')).toBe(true);
    await writer.push([make()]);
    await writer.push([make(), make()]);
    await settle();
    expect(live.versions()).toEqual([1, 2]);
    const partitioned = await errorOf(phone.pull(CursorVersion.ZERO));
    expect(isSyncError(partitioned, 'network')).toBe(true);
    expect((partitioned as SyncError).retryable).toBe(true);
    network.heal('phone');
    await settle();
    await writer.push([make()]);
    await settle();
    expect(live.versions()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(live.states).toEqual([{ state: 'live' }, { state: 'connecting', code: 'network' }, { state: 'live' }]);
    expect(network.stats.clients['phone']?.disconnects).toBe(1);
  });

  it('keeps a subscription made while partitioned connecting until healed', async () => {
    const network = new MemoryNetwork();
    const make = eventsOf('writer');
    await network.transport('writer').push([make()]);
    network.partition('phone');
    const live = recorder();
    network.transport('phone').subscribe(live.handler, { onStateChange: live.onStateChange });
    await network.transport('writer').push([make()]);
    await settle();
    expect(live.states).toEqual([{ state: 'connecting', code: 'network' }]);
    network.heal();
    await settle();
    expect(live.states.at(-1)).toEqual({ state: 'live' });
    expect(live.versions()).toEqual([2]);
  });

  it('fails every call of a partitioned client but not of the others', async () => {
    const network = new MemoryNetwork();
    const phone = network.transport('phone');
    const laptop = network.transport('laptop');
    network.partition('phone');
    const event = eventsOf('phone')();
    expect(isSyncError(await errorOf(phone.push([event])), 'network')).toBe(true);
    expect(isSyncError(await errorOf(phone.latestVersion()), 'network')).toBe(true);
    expect((await laptop.latestVersion()).value).toBe(0);
    expect((await network.log.latestVersion('default')).value).toBe(0);
    network.heal('laptop');
    expect(network.isPartitioned('phone')).toBe(true);
    network.heal();
    expect((await phone.push([event]))[0]?.status).toBe('accepted');
  });

  it('stores a push whose answer was lost, so the retry says duplicate', async () => {
    const network = new MemoryNetwork({ faults: { dropResponse: 1 } });
    const phone = network.transport('phone');
    const event = eventsOf('phone')();
    const lost = await errorOf(phone.push([event]));
    expect(isSyncError(lost, 'network')).toBe(true);
    expect((lost as SyncError).retryable).toBe(true);
    expect((await network.log.read('default')).events.map((item) => item.event.id)).toEqual([event.id]);
    network.setFaults({});
    const [result] = await phone.push([event]);
    expect(result).toMatchObject({ id: event.id, status: 'duplicate' });
    expect(result?.status === 'duplicate' && result.version.value).toBe(1);
    expect(network.stats.dropped).toBe(1);
  });

  it('stores nothing when the request is lost or the server is unavailable', async () => {
    const network = new MemoryNetwork({ faults: { dropRequest: 1 } });
    const phone = network.transport('phone');
    const event = eventsOf('phone')();
    expect(isSyncError(await errorOf(phone.push([event])), 'network')).toBe(true);
    network.setFaults({ fail: 1 });
    const unavailable = await errorOf(phone.push([event]));
    expect(isSyncError(unavailable, 'unavailable')).toBe(true);
    expect((unavailable as SyncError).retryable).toBe(true);
    expect((await network.log.latestVersion('default')).value).toBe(0);
    expect(network.stats).toMatchObject({ requests: 2, dropped: 1, failed: 1 });
    expect(network.stats.clients['phone']).toMatchObject({ requests: 2, dropped: 1, failed: 1 });
  });

  it('delivers a duplicated push twice and answers with the second delivery', async () => {
    const network = new MemoryNetwork({ faults: { duplicate: 1 } });
    const phone = network.transport('phone');
    const make = eventsOf('phone');
    const results = await phone.push([make(), make()]);
    expect(results.map((r) => r.status)).toEqual(['duplicate', 'duplicate']);
    expect(results.map((r) => (r.status === 'duplicate' ? r.version.value : 0))).toEqual([1, 2]);
    expect((await network.log.latestVersion('default')).value).toBe(2);
    expect(network.stats.duplicated).toBe(1);
    await phone.pull(CursorVersion.ZERO);
    expect(network.stats.duplicated).toBe(1);
  });

  it('delays requests on the injected clock, so concurrent requests finish in shuffled order', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, seed: 7, faults: { delay: { min: 1, max: 100 } } });
    const finished: string[] = [];
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const calls = ids.map((id) =>
      network
        .transport(id)
        .latestVersion()
        .then(() => finished.push(id)),
    );
    await settle();
    expect(finished).toEqual([]);
    expect(clock.pendingTimers).toBe(ids.length);
    await clock.advance(200);
    await Promise.all(calls);
    expect([...finished].sort()).toEqual(ids);
    expect(finished).not.toEqual(ids);
  });

  it('applies a push when its request arrives, not when it is sent', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, faults: { delay: 50 } });
    const pushing = network.transport('phone').push([eventsOf('phone')()]);
    await clock.advance(49);
    expect((await network.log.latestVersion('default')).value).toBe(0);
    await clock.advance(1);
    expect((await network.log.latestVersion('default')).value).toBe(1);
    await clock.advance(50);
    expect((await pushing)[0]?.status).toBe('accepted');
  });

  it('loses the answer of a request in flight when its client is partitioned', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, faults: { delay: 10 } });
    const pushing = errorOf(network.transport('phone').push([eventsOf('phone')()]));
    await clock.advance(15);
    network.partition('phone');
    await clock.advance(10);
    expect(isSyncError(await pushing, 'network')).toBe(true);
    expect((await network.log.latestVersion('default')).value).toBe(1);
  });

  it('drops live streams by fault, reconnects after the delay and still delivers every event once, in order', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({
      clock,
      seed: 3,
      faults: { disconnect: 0.5, reconnectDelay: { min: 5, max: 20 } },
    });
    const writer = network.transport('writer');
    const make = eventsOf('writer');
    const live = recorder();
    network
      .transport('phone')
      .subscribe(live.handler, { since: CursorVersion.ZERO, onStateChange: live.onStateChange });
    for (let i = 0; i < 20; i++) {
      await writer.push([make()]);
      await clock.advance(3);
    }
    await clock.advance(1000);
    expect(live.versions()).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(live.states.filter((s) => s.state === 'connecting').length).toBeGreaterThan(0);
    expect(live.states.at(-1)).toEqual({ state: 'live' });
    expect(network.stats.clients['phone']?.disconnects).toBe(
      live.states.filter((s) => s.state === 'connecting').length,
    );
  });

  it('gives the same faults for the same seed and different faults for a different seed', async () => {
    const faults: FaultOptions = { dropRequest: 0.2, dropResponse: 0.2, fail: 0.2, duplicate: 0.3 };
    const run = async (seed: number): Promise<string[]> => {
      const network = new MemoryNetwork({ seed, faults });
      const transports = ['a', 'b'].map((id) => ({ transport: network.transport(id), make: eventsOf(id) }));
      const outcomes: string[] = [];
      for (let i = 0; i < 40; i++) {
        const { transport, make } = transports[i % 2] as (typeof transports)[number];
        try {
          outcomes.push((await transport.push([make()]))[0]?.status ?? 'none');
        } catch (error) {
          outcomes.push((error as SyncError).code);
        }
      }
      return outcomes;
    };
    const first = await run(123);
    expect(await run(123)).toEqual(first);
    expect(await run(124)).not.toEqual(first);
    expect(new Set(first).size).toBeGreaterThan(2);
  });

  it('keeps a client faults independent of how other clients interleave', async () => {
    const outcomes = async (otherCalls: number): Promise<string[]> => {
      const network = new MemoryNetwork({ seed: 9, faults: { fail: 0.5 } });
      const phone = network.transport('phone');
      const other = network.transport('other');
      const result: string[] = [];
      for (let i = 0; i < 20; i++) {
        for (let j = 0; j < otherCalls; j++) await other.latestVersion().catch(() => undefined);
        result.push(
          await phone.latestVersion().then(
            () => 'ok',
            (e: SyncError) => e.code,
          ),
        );
      }
      return result;
    };
    expect(await outcomes(3)).toEqual(await outcomes(0));
  });

  it('rejects with the signal reason when aborted before or during a call', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, faults: { delay: 100 } });
    const phone = network.transport('phone');
    const reason = new Error('user left');
    const aborted = AbortSignal.abort(reason);
    await expect(phone.push([], { signal: aborted })).rejects.toBe(reason);
    await expect(phone.pull(CursorVersion.ZERO, { signal: aborted })).rejects.toBe(reason);
    await expect(phone.latestVersion({ signal: aborted })).rejects.toBe(reason);
    expect(() => phone.subscribe(() => undefined, { signal: aborted })).toThrow(reason);
    const controller = new AbortController();
    const pushing = errorOf(phone.push([eventsOf('phone')()], { signal: controller.signal }));
    await clock.advance(50);
    controller.abort(reason);
    expect(await pushing).toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect((await network.log.latestVersion('default')).value).toBe(0);
  });

  it('closes a subscription when its signal aborts', async () => {
    const network = new MemoryNetwork();
    const phone = network.transport('phone');
    const controller = new AbortController();
    const live = recorder();
    phone.subscribe(live.handler, {
      since: CursorVersion.ZERO,
      signal: controller.signal,
      onStateChange: live.onStateChange,
    });
    await settle();
    controller.abort();
    await phone.push([eventsOf('phone')()]);
    await settle();
    expect(live.batches).toEqual([]);
    expect(live.states).toEqual([{ state: 'live' }, { state: 'closed' }]);
  });

  it('closes idempotently, fails later calls with closed, and closes its subscriptions', async () => {
    const clock = new FakeClock();
    const network = new MemoryNetwork({ clock, faults: { delay: 10 } });
    const phone = network.transport('phone');
    const live = recorder();
    const subscription = phone.subscribe(live.handler, { onStateChange: live.onStateChange });
    await clock.advance(0);
    const inFlight = errorOf(phone.latestVersion());
    await phone.close();
    await phone.close();
    subscription.close();
    expect(isSyncError(await inFlight, 'closed')).toBe(true);
    expect(isSyncError(await errorOf(phone.push([])), 'closed')).toBe(true);
    expect(isSyncError(await errorOf(phone.pull(CursorVersion.ZERO)), 'closed')).toBe(true);
    expect(isSyncError(await errorOf(phone.latestVersion()), 'closed')).toBe(true);
    expect(() => phone.subscribe(() => undefined)).toThrow(SyncError);
    expect(live.states).toEqual([{ state: 'live' }, { state: 'closed' }]);
    expect(clock.pendingTimers).toBe(0);
    const other = network.transport('other');
    await network.close();
    expect(isSyncError(await errorOf(other.latestVersion()), 'closed')).toBe(true);
  });

  it('closes a subscription whose handler fails, with the failure', async () => {
    const network = new MemoryNetwork();
    const phone = network.transport('phone');
    const states: { state: SubscriptionState; error?: SyncError }[] = [];
    const boom = new Error('disk full');
    let calls = 0;
    phone.subscribe(
      () => {
        calls++;
        throw boom;
      },
      { since: CursorVersion.ZERO, onStateChange: (state, error) => states.push({ state, error }) },
    );
    const make = eventsOf('phone');
    await phone.push([make()]);
    await settle();
    await phone.push([make()]);
    await settle();
    expect(calls).toBe(1);
    expect(states.map((s) => s.state)).toEqual(['live', 'closed']);
    expect(states[1]?.error?.cause).toBe(boom);
  });

  it('refuses bad input with invalid_input', async () => {
    expect(() => new MemoryNetwork({ faults: { dropRequest: 1.5 } })).toThrow(SyncError);
    expect(() => new MemoryNetwork({ faults: { delay: { min: 10, max: 5 } } })).toThrow(SyncError);
    expect(() => new MemoryNetwork({ faults: { delay: -1 } })).toThrow(SyncError);
    expect(() => new MemoryNetwork({ tenant: '' })).toThrow(SyncError);
    expect(() => new MemoryNetwork({ liveBatchLimit: 0 })).toThrow(SyncError);
    const network = new MemoryNetwork();
    expect(() => network.setFaults({ fail: Number.NaN })).toThrow(SyncError);
    expect(() => network.transport('')).toThrow(SyncError);
    const phone = network.transport('phone');
    expect(() => phone.subscribe('nope' as unknown as () => void)).toThrow(SyncError);
    expect(() => phone.subscribe(() => undefined, { since: 3 as unknown as CursorVersion })).toThrow(SyncError);
    expect(isSyncError(await errorOf(phone.pull(5 as unknown as CursorVersion)), 'invalid_input')).toBe(true);
    expect(isSyncError(await errorOf(phone.push('x' as unknown as Event[])), 'invalid_input')).toBe(true);
  });

  it('clears faults and partitions on heal()', async () => {
    const network = new MemoryNetwork({ faults: { fail: 1, delay: 5 } });
    network.partition('phone');
    network.heal();
    expect(network.faults).toMatchObject({ fail: 0, delay: { min: 0, max: 0 } });
    expect((await network.transport('phone').latestVersion()).value).toBe(0);
  });

  it('after healing, delivers to a subscriber exactly the log after its since, in order, whatever the seed and faults', async () => {
    const probability = fc.double({ min: 0, max: 0.4, noNaN: true });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.record({
          dropRequest: probability,
          dropResponse: probability,
          duplicate: probability,
          fail: probability,
          disconnect: probability,
          delay: fc.record({ min: fc.integer({ min: 0, max: 5 }), max: fc.integer({ min: 5, max: 40 }) }),
          reconnectDelay: fc.integer({ min: 0, max: 30 }),
        }),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.boolean()), {
          maxLength: 12,
        }),
        async (seed, faults, initial, sinceValue, pushes) => {
          const clock = new FakeClock();
          const network = new MemoryNetwork({ seed, faults, clock });
          const makeSetup = eventsOf('setup');
          for (let i = 0; i < initial; i++) await network.log.append('default', [makeSetup()]);
          const since = CursorVersion.of(Math.min(sinceValue, initial));
          const live = recorder();
          network.transport('watcher').subscribe(live.handler, { since });
          const clients = ['a', 'b', 'c'].map((id) => ({ transport: network.transport(id), make: eventsOf(id), id }));
          let finished = 0;
          const work = pushes.map(async ([client, count, partitionWatcher], i) => {
            const { transport, make, id } = clients[client] as (typeof clients)[number];
            await clock.sleep(i * 7);
            if (partitionWatcher) network.partition('watcher');
            else network.heal('watcher');
            if (i % 4 === 3) network.partition(id);
            if (i % 4 === 0) network.heal(id);
            const events = Array.from({ length: count }, () => make());
            for (;;) {
              try {
                await transport.push(events);
                break;
              } catch (error) {
                if (!isSyncError(error) || !error.retryable) throw error;
                await clock.sleep(10);
                network.heal(id);
              }
            }
            finished++;
          });
          for (let i = 0; i < 2000 && finished < pushes.length; i++) await clock.advance(5);
          await Promise.all(work);
          network.heal();
          const latest = (await network.log.latestVersion('default')).value;
          for (let i = 0; i < 200 && (live.batches.at(-1)?.cursor.value ?? since.value) < latest; i++)
            await clock.advance(5);
          const expected = (await network.log.read('default', { since, limit: 10_000 })).events.map(
            (item) => item.event.id,
          );
          expect(live.ids()).toEqual(expected);
          await network.close();
        },
      ),
      propertyOptions({ numRuns: 40, seed: 20260101 }),
    );
  });
});
