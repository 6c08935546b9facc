import { CursorVersion, type AppendNotice, type AppendResult, type Event, type ServerEventLog } from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectSyncError } from '../fixtures/expect-sync-error.js';
import { TestEvents } from '../fixtures/test-events.js';
import { itWhenDurable, type StoreContractOptions } from './event-store-contract.js';
import { settle, v, waitFor } from './support.js';
const statuses = (results: readonly AppendResult[]): string[] => results.map((result) => result.status);
const versions = (results: readonly AppendResult[]): (string | undefined)[] =>
  results.map((result) => ('version' in result ? result.version.toString() : undefined));

/** Options of {@link describeServerEventLogContract}. */
export interface ServerEventLogContractOptions<L> extends StoreContractOptions<L> {
  /**
   * How many concurrent appenders the concurrency cases run.
   *
   * @defaultValue 8
   */
  readonly concurrency?: number;
}

/**
 * The contract every {@link ServerEventLog} keeps: per-tenant gapless cursors, the four append
 * results, atomic batches, paged reads with filters, notifications, and close.
 *
 * @example
 * ```ts
 * describeServerEventLogContract('MemoryServerEventLog', { create: () => new MemoryServerEventLog() });
 * ```
 */
export function describeServerEventLogContract<L extends ServerEventLog>(
  name: string,
  options: ServerEventLogContractOptions<L>,
): void {
  const concurrency = options.concurrency ?? 8;

  describe(`${name} keeps the ServerEventLog contract`, () => {
    let log: L;
    let alice: TestEvents;
    let bob: TestEvents;

    beforeEach(async () => {
      log = await options.create();
      alice = new TestEvents({ clientId: 'alice' });
      bob = new TestEvents({ clientId: 'bob' });
    });

    afterEach(async () => {
      await log.close();
      await options.destroy?.(log);
    });

    async function readAll(tenant: string, pageSize = 1000): Promise<Event[]> {
      const all: Event[] = [];
      let since = CursorVersion.ZERO;
      for (let guard = 0; guard < 100_000; guard++) {
        const page = await log.read(tenant, { since, limit: pageSize });
        all.push(...page.events.map((item) => item.event));
        since = page.next;
        if (!page.hasMore) return all;
      }
      throw new Error('read did not finish');
    }

    describe('append', () => {
      it('accepts new events at the next cursors, 1, 2, 3 …, in batch order', async () => {
        const first = await log.append('t1', alice.many(3));
        expect(statuses(first)).toEqual(['accepted', 'accepted', 'accepted']);
        expect(versions(first)).toEqual(['1', '2', '3']);
        const second = await log.append('t1', bob.many(2, 1, { type: 'other' }));
        expect(versions(second)).toEqual(['4', '5']);
        expect((await log.latestVersion('t1')).toString()).toBe('5');
      });

      it('answers results in the order of the batch, with each event id', async () => {
        const batch = alice.many(4, 2);
        const results = await log.append('t1', batch);
        expect(results.map((result) => result.id)).toEqual(batch.map((event) => event.id));
      });

      it('answers duplicate with the stored version when an event is pushed again, and stores it once', async () => {
        const [a, b] = alice.many(2) as [Event, Event];
        await log.append('t1', [a]);
        const results = await log.append('t1', [a, b, b]);
        expect(statuses(results)).toEqual(['duplicate', 'accepted', 'duplicate']);
        expect(versions(results)).toEqual(['1', '2', '2']);
        expect((await readAll('t1')).map((event) => event.id)).toEqual([a.id, b.id]);
      });

      it('counts an event pushed again with a moved baseVersion as a duplicate', async () => {
        const a = alice.make('x', { metadata: { baseVersion: '0' } });
        await log.append('t1', [a]);
        const [result] = await log.append('t1', [{ ...a, metadata: { ...a.metadata, baseVersion: '1' } }]);
        expect(result?.status).toBe('duplicate');
      });

      it('rejects an id already stored with other content, and never overwrites it', async () => {
        const a = alice.make('x');
        await log.append('t1', [a]);
        const [result] = await log.append('t1', [{ ...a, data: { evil: true } }]);
        expect(result).toMatchObject({ id: a.id, status: 'rejected', code: 'id_reused' });
        const [stored] = await readAll('t1');
        expect(stored?.data).toEqual(a.data);
        expect((await log.latestVersion('t1')).toString()).toBe('1');
      });

      it('answers conflict when another client landed on the aggregate after the baseVersion', async () => {
        await log.append('t1', [alice.make('todo-1')]);
        const stale = bob.make('todo-1', { metadata: { baseVersion: '0' } });
        const [result] = await log.append('t1', [stale]);
        expect(result).toMatchObject({ id: stale.id, status: 'conflict' });
        expect(result?.status === 'conflict' && result.latest.toString()).toBe('1');
        expect(typeof (result as { reason?: unknown }).reason).toBe('string');
        expect((await log.latestVersion('t1')).toString()).toBe('1');
        const rebased = bob.make('todo-1', { metadata: { baseVersion: '1' } });
        expect(statuses(await log.append('t1', [rebased]))).toEqual(['accepted']);
      });

      it('accepts sequential edits: own events after the baseVersion, other aggregates, and events without baseVersion', async () => {
        await log.append('t1', [alice.make('todo-1', { metadata: { baseVersion: '0' } })]);
        const results = await log.append('t1', [
          alice.make('todo-1', { metadata: { baseVersion: '0' } }),
          bob.make('todo-2', { metadata: { baseVersion: '0' } }),
          bob.make('todo-1'),
        ]);
        expect(statuses(results)).toEqual(['accepted', 'accepted', 'accepted']);
      });

      it('answers conflict for the later events of an aggregate whose earlier event in the batch conflicted', async () => {
        await log.append('t1', [alice.make('todo-1')]);
        const results = await log.append('t1', [
          bob.make('todo-1', { metadata: { baseVersion: '0' } }),
          bob.make('todo-2', { metadata: { baseVersion: '0' } }),
          bob.make('todo-1', { metadata: { baseVersion: '1' } }),
        ]);
        expect(statuses(results)).toEqual(['conflict', 'accepted', 'conflict']);
      });

      it('rejects a baseVersion past the latest version as invalid_event: the client cannot have seen it', async () => {
        await log.append('t1', alice.many(2));
        const results = await log.append('t1', [
          bob.make('x', { metadata: { baseVersion: '2' } }),
          bob.make('y', { metadata: { baseVersion: '4' } }),
          bob.make('z', { metadata: { baseVersion: '9' } }),
        ]);
        // The second event's base counts the first, accepted earlier in the batch at 3.
        expect(statuses(results)).toEqual(['accepted', 'rejected', 'rejected']);
        expect(results[1]).toMatchObject({ code: 'invalid_event' });
        expect((await log.latestVersion('t1')).toString()).toBe('3');
      });

      it('rejects malformed events with a reason and still answers the rest of the batch', async () => {
        const good = alice.make('x');
        const results = await log.append('t1', [
          { ...alice.make('x'), type: '' },
          good,
          { ...alice.make('x'), data: undefined } as unknown as Event,
        ]);
        expect(statuses(results)).toEqual(['rejected', 'accepted', 'rejected']);
        expect(results[0]).toMatchObject({ status: 'rejected', code: 'invalid_event' });
        expect((results[0] as { reason: string }).reason).toMatch(/type/);
        expect(versions(results)[1]).toBe('1');
      });

      it('refuses an event that names another tenant, and stores the others as they were sent', async () => {
        const intruder = alice.make('x', { metadata: { tenant: 'someone-else' } });
        const plain = alice.make('y');
        const results = await log.append('t1', [intruder, plain]);
        expect(results[0]).toMatchObject({ id: intruder.id, status: 'rejected', code: 'forbidden' });
        expect(results[1]?.status).toBe('accepted');
        expect(await readAll('t1')).toEqual([plain]);
        expect(await readAll('someone-else')).toEqual([]);
      });

      it('keeps tenants apart: each has its own cursors and sees only its own events', async () => {
        await log.append('t1', alice.many(3));
        const results = await log.append('t2', bob.many(2));
        expect(versions(results)).toEqual(['1', '2']);
        expect(await readAll('t1')).toHaveLength(3);
        expect((await readAll('t2')).every((event) => event.metadata.clientId === 'bob')).toBe(true);
        expect((await log.latestVersion('t3')).isZero()).toBe(true);
      });

      it('accepts in each tenant the same event pushed to two tenants: one tenant learns nothing of another', async () => {
        const event = alice.make('x');
        await log.append('t1', [alice.make('y'), event]);
        const [result] = await log.append('t2', [event]);
        expect(result).toMatchObject({ id: event.id, status: 'accepted' });
        expect(result?.status === 'accepted' && result.version.toString()).toBe('1');
        expect(await readAll('t2')).toEqual([event]);
        expect((await readAll('t1'))[1]).toEqual(event);
      });

      it('refuses a missing tenant with invalid_input', async () => {
        await expectSyncError(() => log.append('', alice.many(1)), 'invalid_input');
        await expectSyncError(() => log.read(''), 'invalid_input');
        await expectSyncError(() => log.latestVersion(''), 'invalid_input');
      });
    });

    describe('read', () => {
      it('reads strictly after since, at most limit events, with next and hasMore', async () => {
        const batch = alice.many(10);
        await log.append('t1', batch);
        const page = await log.read('t1', { since: v(3), limit: 4 });
        expect(page.events.map((item) => item.event.id)).toEqual(batch.slice(3, 7).map((event) => event.id));
        expect(page.events.map((item) => item.version.toString())).toEqual(['4', '5', '6', '7']);
        expect(page.next.toString()).toBe('7');
        expect(page.hasMore).toBe(true);
        const last = await log.read('t1', { since: v(7), limit: 4 });
        expect(last.events).toHaveLength(3);
        expect(last.next.toString()).toBe('10');
        expect(last.hasMore).toBe(false);
        const empty = await log.read('t1', { since: v(10) });
        expect(empty).toMatchObject({ events: [], hasMore: false });
        expect(empty.next.toString()).toBe('10');
      });

      it('pages through the whole log with each event once, in order', async () => {
        const batch = alice.many(23, 4);
        await log.append('t1', batch);
        expect((await readAll('t1', 5)).map((event) => event.id)).toEqual(batch.map((event) => event.id));
      });

      it('filters by type and aggregate, and moves next past what it skipped', async () => {
        const batch = [
          alice.make('a', { type: 'keep' }),
          alice.make('b', { type: 'skip' }),
          alice.make('a', { type: 'skip' }),
          alice.make('b', { type: 'keep' }),
          alice.make('c', { type: 'skip' }),
        ];
        await log.append('t1', batch);
        const kept = await log.read('t1', { filter: { type: 'keep' } });
        expect(kept.events.map((item) => item.version.toString())).toEqual(['1', '4']);
        expect(kept.next.toString()).toBe('5');
        expect(kept.hasMore).toBe(false);
        const onA = await log.read('t1', { filter: { aggregateId: 'a' }, limit: 1 });
        expect(onA.events.map((item) => item.version.toString())).toEqual(['1']);
        const rest = await log.read('t1', { since: onA.next, filter: { aggregateId: ['a'] } });
        expect(rest.events.map((item) => item.version.toString())).toEqual(['3']);
        expect(rest.next.toString()).toBe('5');
      });

      it('refuses a cursor past the latest version: the log is behind the reader', async () => {
        await log.append('t1', alice.many(2));
        const error = await expectSyncError(() => log.read('t1', { since: v(3) }), 'invalid_input');
        expect(error.details.field).toBe('since');
        expect((await log.read('t1', { since: v(2) })).events).toEqual([]);
      });

      it('keeps what it stored whatever the caller later does to the objects it gave or got', async () => {
        const event = alice.make('x', { data: { title: 'original' } });
        await log.append('t1', [event]);
        (event.data as { title: string }).title = 'changed by the caller';
        const [read] = (await log.read('t1')).events;
        try {
          (read!.event.data as { title: string }).title = 'changed through a read';
        } catch {
          // A log may hand out frozen objects.
        }
        expect((await log.read('t1')).events[0]?.event.data).toEqual({ title: 'original' });
      });

      it('refuses a limit that is not a positive integer', async () => {
        await expectSyncError(() => log.read('t1', { limit: 0 }), 'invalid_input');
        await expectSyncError(() => log.read('t1', { limit: 1.5 }), 'invalid_input');
      });

      it('reports zero as the latest version of an empty log', async () => {
        expect((await log.latestVersion('t1')).isZero()).toBe(true);
      });
    });

    describe('notifications', () => {
      it('tells listeners the tenant and its latest cursor after an append stored something', async () => {
        const notices: AppendNotice[] = [];
        const stop = log.subscribe((notice) => notices.push(notice));
        const event = alice.make('x');
        await log.append('t1', [event, alice.make('y')]);
        await log.append('t1', [event]);
        await waitFor(() => notices.length >= 1, 2000, 'a notification');
        expect(notices.map((notice) => [notice.tenant, notice.latest.toString()])).toEqual([['t1', '2']]);
        stop();
        stop();
        await log.append('t1', alice.many(1));
        await settle();
        expect(notices).toHaveLength(1);
      });

      it('carries on when a listener throws', async () => {
        const notices: string[] = [];
        log.subscribe(() => {
          throw new Error('listener bug');
        });
        log.subscribe((notice) => notices.push(notice.latest.toString()));
        const results = await log.append('t1', alice.many(1));
        expect(statuses(results)).toEqual(['accepted']);
        await waitFor(() => notices.length === 1, 2000, 'a notification');
        expect(notices).toEqual(['1']);
      });
    });

    describe('concurrency', () => {
      it(`keeps the cursor gapless and each batch contiguous under ${concurrency} concurrent appenders`, async () => {
        const writers = Array.from({ length: concurrency }, (_, i) => new TestEvents({ clientId: `writer-${i}` }));
        const batches = writers.flatMap((writer) => Array.from({ length: 5 }, () => writer.many(4, 3)));
        const results = await Promise.all(batches.map((batch) => log.append('t1', batch)));
        const all = results.flat();
        expect(all.every((result) => result.status === 'accepted')).toBe(true);
        for (const batchResults of results) {
          const numbers = batchResults.map((result) => Number((result as { version: CursorVersion }).version.value));
          expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
        }
        const numbers = all.map((result) => (result as { version: CursorVersion }).version.value).sort((a, b) => a - b);
        expect(numbers).toEqual(numbers.map((_, i) => i + 1));
        const stored = await readAll('t1', 7);
        expect(stored.map((event) => event.id).sort()).toEqual(
          batches
            .flat()
            .map((event) => event.id)
            .sort(),
        );
      });

      it('never lets a reader paging during concurrent appends miss an event', async () => {
        const writers = Array.from({ length: concurrency }, (_, i) => new TestEvents({ clientId: `writer-${i}` }));
        const total = concurrency * 10 * 3;
        const seen: string[] = [];
        let done = false;
        const reader = (async () => {
          let since = CursorVersion.ZERO;
          for (let guard = 0; guard < 100_000; guard++) {
            const page = await log.read('t1', { since, limit: 5 });
            for (const item of page.events) {
              expect(item.version.value).toBe(since.value + 1);
              seen.push(item.event.id);
              since = item.version;
            }
            if (done && !page.hasMore && seen.length === total) return;
            if (page.events.length === 0) await settle();
          }
          throw new Error('the reader did not catch up');
        })();
        await Promise.all(
          writers.map(async (writer) => {
            for (let i = 0; i < 10; i++) await log.append('t1', writer.many(3, 2));
          }),
        );
        done = true;
        await reader;
        expect(new Set(seen).size).toBe(total);
      });
    });

    it('fails every call with a closed error after close, and closes twice without error', async () => {
      await log.close();
      await log.close();
      await expectSyncError(() => log.append('t1', alice.many(1)), 'closed');
      await expectSyncError(() => log.read('t1'), 'closed');
      await expectSyncError(() => log.latestVersion('t1'), 'closed');
    });

    it('rejects with the signal reason when the signal is aborted, appending nothing', async () => {
      const controller = new AbortController();
      const reason = new Error('stop');
      controller.abort(reason);
      await expect(log.append('t1', alice.many(1), { signal: controller.signal })).rejects.toBe(reason);
      await expect(log.read('t1', { signal: controller.signal })).rejects.toBe(reason);
      await expect(log.latestVersion('t1', { signal: controller.signal })).rejects.toBe(reason);
      expect((await log.latestVersion('t1')).isZero()).toBe(true);
    });

    itWhenDurable(options, 'keeps every accepted event across a reopen, and goes on from the same cursor', async () => {
      const batch = alice.many(5);
      await log.append('t1', batch);
      log = await options.reopen!(log);
      expect((await readAll('t1')).map((event) => event.id)).toEqual(batch.map((event) => event.id));
      expect(versions(await log.append('t1', [alice.make('x'), batch[0]!]))).toEqual(['6', '1']);
    });
  });
}
