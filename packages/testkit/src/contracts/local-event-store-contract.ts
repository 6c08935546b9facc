import {
  CursorVersion,
  type ConflictRecord,
  type Event,
  type LocalEventStore,
  type SignalOptions,
  type VersionedEvent,
} from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectSyncError } from '../fixtures/expect-sync-error.js';
import { TestEvents } from '../fixtures/test-events.js';
import { describeEventStoreContract, itWhenDurable, type StoreContractOptions } from './event-store-contract.js';
import { v } from './support.js';

const ids = (list: readonly { event: Event }[]): string[] => list.map((item) => item.event.id);
const at = (list: readonly Event[], first: number): VersionedEvent[] =>
  list.map((event, i) => ({ event, version: v(first + i) }));

/** A conflict record between `local` and `remote`; resolved ones carry a `keep_remote` resolution. */
function conflictRecord(
  id: string,
  local: Event,
  remote: VersionedEvent,
  status: 'open' | 'resolved' = 'open',
): ConflictRecord {
  return {
    id,
    status,
    detectedAt: 1,
    conflict: {
      aggregateId: local.aggregateId,
      eventType: local.type,
      changedFields: ['n'],
      metadata: {},
      local: [local],
      remote: [remote],
    },
    ...(status === 'resolved'
      ? { resolution: { resolvedEvents: [], decision: 'keep_remote', reasons: ['test'] }, resolvedAt: 2 }
      : {}),
  };
}

/** What the calls of {@link LOCAL_CALLS} act on: a store holding one pending event, `pending`, on aggregate `a`. */
interface CallFixture {
  readonly pending: Event;
  readonly mine: TestEvents;
  readonly theirs: TestEvents;
}

/**
 * Every method {@link LocalEventStore} adds, called so that it would succeed (or at least change
 * something) on an open store: each must fail with `closed` after close and with the signal's reason
 * when aborted, changing nothing.
 */
const LOCAL_CALLS: readonly (readonly [
  string,
  (store: LocalEventStore, fixture: CallFixture, options: SignalOptions) => Promise<unknown>,
])[] = [
  ['appendLocal', (store, { mine }, options) => store.appendLocal([mine.make('b')], options)],
  ['pending', (store, _fixture, options) => store.pending(options)],
  ['pendingCount', (store, _fixture, options) => store.pendingCount(options)],
  ['find', (store, { pending }, options) => store.find(pending.id, options)],
  ['aggregateVersion', (store, _fixture, options) => store.aggregateVersion('a', options)],
  ['acknowledge', (store, { pending }, options) => store.acknowledge([{ id: pending.id, version: v(1) }], options)],
  [
    'applyPulled',
    (store, { theirs }, options) => store.applyPulled({ events: at([theirs.make('a')], 1), cursor: v(1) }, options),
  ],
  ['cursor', (store, _fixture, options) => store.cursor(options)],
  [
    'reject',
    (store, { pending }, options) => store.reject([{ id: pending.id, code: 'forbidden', reason: 'no' }], options),
  ],
  ['rejections', (store, _fixture, options) => store.rejections(options)],
  [
    'saveConflict',
    (store, { pending, theirs }, options) =>
      store.saveConflict(conflictRecord('c1', pending, { event: theirs.make('a'), version: v(1) }), options),
  ],
  ['conflicts', (store, _fixture, options) => store.conflicts(options)],
  [
    'updateOutbox',
    (store, { pending, mine }, options) => store.updateOutbox({ remove: [pending.id], add: [mine.make('a')] }, options),
  ],
];

/**
 * The contract every {@link LocalEventStore} keeps: the {@link describeEventStoreContract} cases, plus
 * the outbox, acknowledgements, atomic pulled pages with their cursor, rejections and conflicts.
 *
 * @example
 * ```ts
 * describeLocalEventStoreContract('MemoryEventStore', { create: () => new MemoryEventStore() });
 * ```
 */
export function describeLocalEventStoreContract<S extends LocalEventStore>(
  name: string,
  options: StoreContractOptions<S>,
): void {
  describeEventStoreContract(name, options);

  describe(`${name} keeps the LocalEventStore contract`, () => {
    let store: S;
    let mine: TestEvents;
    let theirs: TestEvents;

    beforeEach(async () => {
      store = await options.create();
      mine = new TestEvents({ clientId: 'me' });
      theirs = new TestEvents({ clientId: 'them' });
    });

    afterEach(async () => {
      await store.close();
      await options.destroy?.(store);
    });

    describe('outbox', () => {
      it('keeps appended events pending in the order they were appended', async () => {
        const list = mine.many(5, 2);
        await store.appendLocal(list.slice(0, 2));
        const entries = await store.appendLocal(list.slice(2));
        expect(entries.map((entry) => entry.event.id)).toEqual(list.slice(2).map((event) => event.id));
        const pending = await store.pending();
        expect(ids(pending)).toEqual(list.map((event) => event.id));
        expect(pending[0]?.event).toEqual(list[0]);
        const seqs = pending.map((entry) => entry.localSeq);
        expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
        expect(new Set(seqs).size).toBe(seqs.length);
        expect(await store.pendingCount()).toBe(5);
      });

      it('lists the pending events of one aggregate, and at most `limit`', async () => {
        const list = mine.many(6, 3);
        await store.appendLocal(list);
        expect(ids(await store.pending({ aggregateId: 'agg-1' }))).toEqual([list[1]!.id, list[4]!.id]);
        expect(ids(await store.pending({ limit: 2 }))).toEqual([list[0]!.id, list[1]!.id]);
      });

      it('pages through the outbox after a localSeq', async () => {
        const list = mine.many(5);
        await store.appendLocal(list);
        const [first, second] = await store.pending({ limit: 2 });
        expect(ids(await store.pending({ afterSeq: second!.localSeq }))).toEqual(
          list.slice(2).map((event) => event.id),
        );
        expect(ids(await store.pending({ afterSeq: first!.localSeq, limit: 1 }))).toEqual([list[1]!.id]);
      });

      it('finds an event as pending, then as confirmed with its version, and nothing for an unknown id', async () => {
        const event = mine.make('a');
        const [entry] = await store.appendLocal([event]);
        expect(await store.find(event.id)).toEqual({ status: 'pending', event, localSeq: entry!.localSeq });
        await store.acknowledge([{ id: event.id, version: v(3) }]);
        const found = await store.find(event.id);
        expect(found?.status).toBe('confirmed');
        expect(found?.status === 'confirmed' && found.version.toString()).toBe('3');
        expect(await store.find('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBeUndefined();
      });

      it("tracks each aggregate's last confirmed version, the base of the next local event", async () => {
        expect((await store.aggregateVersion('a')).isZero()).toBe(true);
        await store.applyPulled({
          events: at([theirs.make('a'), theirs.make('b'), theirs.make('a')], 1),
          cursor: v(3),
        });
        expect((await store.aggregateVersion('a')).toString()).toBe('3');
        expect((await store.aggregateVersion('b')).toString()).toBe('2');
        const own = mine.make('b');
        await store.appendLocal([own]);
        expect((await store.aggregateVersion('b')).toString()).toBe('2');
        await store.acknowledge([{ id: own.id, version: v(9) }]);
        expect((await store.aggregateVersion('b')).toString()).toBe('9');
      });

      it('keeps pending events out of the confirmed log: the two version spaces never mix', async () => {
        await store.appendLocal(mine.many(3));
        expect(await store.load(CursorVersion.ZERO)).toEqual([]);
        expect((await store.latestVersion()).isZero()).toBe(true);
      });

      it('appends an event once when it is appended twice', async () => {
        const event = mine.make('a');
        await store.appendLocal([event]);
        await store.appendLocal([event]);
        expect(await store.pendingCount()).toBe(1);
      });

      it('refuses a reused id with other content, and a malformed event, appending nothing of the batch', async () => {
        const [first, second] = mine.many(2) as [Event, Event];
        await store.appendLocal([first]);
        await expectSyncError(() => store.appendLocal([second, { ...first, data: { other: 1 } }]), 'invalid_input');
        await expectSyncError(
          () => store.appendLocal([second, { ...mine.make('b'), aggregateId: '' }]),
          'invalid_input',
        );
        expect(ids(await store.pending())).toEqual([first.id]);
      });

      it('acknowledges pushed events: they leave the outbox for the log at their server version', async () => {
        const [a, b, c] = mine.many(3) as [Event, Event, Event];
        await store.appendLocal([a, b, c]);
        await store.acknowledge([
          { id: a.id, version: v(4) },
          { id: b.id, version: v(5) },
        ]);
        expect(ids(await store.pending())).toEqual([c.id]);
        const log = await store.load(CursorVersion.ZERO);
        expect(ids(log)).toEqual([a.id, b.id]);
        expect(log.map((item) => item.version.toString())).toEqual(['4', '5']);
        await store.acknowledge([{ id: a.id, version: v(4) }]);
        expect(await store.load(CursorVersion.ZERO)).toHaveLength(2);
      });

      it('acknowledges nothing when one acknowledgement of the call is wrong', async () => {
        const [a, b] = mine.many(2) as [Event, Event];
        await store.appendLocal([a, b]);
        await store.acknowledge([{ id: b.id, version: v(2) }]);
        await expectSyncError(
          () =>
            store.acknowledge([
              { id: a.id, version: v(1) },
              { id: 'NOT-PENDING', version: v(3) },
            ]),
          'invalid_input',
        );
        await expectSyncError(
          () =>
            store.acknowledge([
              { id: a.id, version: v(1) },
              { id: b.id, version: v(9) },
            ]),
          'invalid_input',
        );
        expect(ids(await store.pending())).toEqual([a.id]);
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual([b.id]);
      });

      it('records rejections: the event leaves the outbox with its code and reason, and cannot come back', async () => {
        const [a, b] = mine.many(2) as [Event, Event];
        await store.appendLocal([a, b]);
        await store.reject([{ id: a.id, code: 'forbidden', reason: 'not your list' }]);
        expect(ids(await store.pending())).toEqual([b.id]);
        const [record] = await store.rejections();
        expect(record).toMatchObject({ event: a, code: 'forbidden', reason: 'not your list' });
        expect(typeof record?.rejectedAt).toBe('number');
        await expectSyncError(() => store.appendLocal([a]), 'invalid_input');
        await expectSyncError(() => store.reject([{ id: a.id, code: 'x', reason: 'again' }]), 'invalid_input');
        expect(await store.rejections()).toHaveLength(1);
      });
    });

    describe('pulled pages', () => {
      it('starts with a zero cursor', async () => {
        expect((await store.cursor()).isZero()).toBe(true);
      });

      it('stores a page and moves the cursor in one step', async () => {
        const page = at(theirs.many(4), 1);
        const result = await store.applyPulled({ events: page, cursor: v(4) });
        expect(result).toEqual({ stored: 4, acknowledged: [] });
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual(ids(page));
        expect((await store.cursor()).toString()).toBe('4');
      });

      it('moves the cursor past filtered-out positions with an empty page', async () => {
        await store.applyPulled({ events: [], cursor: v(10) });
        expect((await store.cursor()).toString()).toBe('10');
      });

      it('acknowledges this client own pending events found in a page', async () => {
        const [own, later] = mine.many(2) as [Event, Event];
        await store.appendLocal([own, later]);
        const foreign = theirs.make('agg-0');
        const result = await store.applyPulled({ events: at([foreign, own], 1), cursor: v(2) });
        expect(result).toEqual({ stored: 2, acknowledged: [own.id] });
        expect(ids(await store.pending())).toEqual([later.id]);
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual([foreign.id, own.id]);
      });

      it('skips events it already holds, such as its own acknowledged events', async () => {
        const own = mine.make('a');
        await store.appendLocal([own]);
        await store.acknowledge([{ id: own.id, version: v(2) }]);
        const foreign = theirs.make('a');
        const result = await store.applyPulled({
          events: [
            { event: foreign, version: v(1) },
            { event: own, version: v(2) },
          ],
          cursor: v(2),
        });
        expect(result.stored).toBe(1);
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual([foreign.id, own.id]);
      });

      it('applies nothing, cursor included, when an event in the middle of the page is refused', async () => {
        const before = at(theirs.many(2), 1);
        await store.applyPulled({ events: before, cursor: v(2) });
        const page = at(theirs.many(10), 3);
        // The sixth event reuses an id already stored at version 1: the page must fail whole.
        const broken = [...page.slice(0, 5), { event: before[0]!.event, version: v(8) }, ...page.slice(6)];
        await expectSyncError(() => store.applyPulled({ events: broken, cursor: v(12) }), 'invalid_input');
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual(ids(before));
        expect((await store.cursor()).toString()).toBe('2');
      });

      it('refuses a cursor that goes back or stays behind an event of the page', async () => {
        await store.applyPulled({ events: at(theirs.many(3), 1), cursor: v(3) });
        await expectSyncError(() => store.applyPulled({ events: [], cursor: v(2) }), 'invalid_input');
        await expectSyncError(
          () => store.applyPulled({ events: at(theirs.many(2), 4), cursor: v(4) }),
          'invalid_input',
        );
        expect((await store.cursor()).toString()).toBe('3');
        expect(await store.load(CursorVersion.ZERO)).toHaveLength(3);
      });
    });

    describe('integrity', () => {
      it('keeps one event per version, whichever way a second one comes', async () => {
        const [first, second, third] = theirs.many(3) as [Event, Event, Event];
        await store.applyPulled({ events: [{ event: first, version: v(1) }], cursor: v(1) });
        await expectSyncError(() => store.store(second, v(1)), 'invalid_input');
        const own = mine.make('a');
        await store.appendLocal([own]);
        await expectSyncError(() => store.acknowledge([{ id: own.id, version: v(1) }]), 'invalid_input');
        await expectSyncError(
          () =>
            store.applyPulled({
              events: [
                { event: second, version: v(2) },
                { event: third, version: v(2) },
              ],
              cursor: v(2),
            }),
          'invalid_input',
        );
        expect(ids(await store.load(CursorVersion.ZERO))).toEqual([first.id]);
        expect(ids(await store.pending())).toEqual([own.id]);
      });

      it('refuses a new event at or below the cursor: the page cannot be from this log', async () => {
        await store.applyPulled({ events: at(theirs.many(3), 1), cursor: v(3) });
        await expectSyncError(
          () => store.applyPulled({ events: [{ event: theirs.make('x'), version: v(3) }], cursor: v(4) }),
          'invalid_input',
        );
        expect((await store.cursor()).toString()).toBe('3');
      });

      it('keeps what it stored whatever the caller later does to the objects it gave or got', async () => {
        const event = mine.make('a', { data: { title: 'original' } });
        await store.appendLocal([event]);
        (event.data as { title: string }).title = 'changed by the caller';
        const [entry] = await store.pending();
        try {
          (entry!.event.data as { title: string }).title = 'changed through a read';
        } catch {
          // A store may hand out frozen objects.
        }
        const [again] = await store.pending();
        expect(again?.event.data).toEqual({ title: 'original' });
      });

      it('refuses a rebase that would give a removed id other content', async () => {
        const event = mine.make('a', { data: { title: 'mine' } });
        await store.appendLocal([event]);
        await expectSyncError(
          () => store.updateOutbox({ remove: [event.id], add: [{ ...event, data: { title: 'rewritten' } }] }),
          'invalid_input',
        );
        const rebased = { ...event, metadata: { ...event.metadata, baseVersion: '5' } };
        const [entry] = await store.updateOutbox({ remove: [event.id], add: [rebased] });
        expect(entry?.event.metadata.baseVersion).toBe('5');
        expect(await store.pendingCount()).toBe(1);
      });
    });

    describe('conflicts', () => {
      it('saves conflict records and lists them by status', async () => {
        const local = mine.make('a');
        const remote = { event: theirs.make('a'), version: v(1) };
        await store.saveConflict(conflictRecord('c1', local, remote));
        await store.saveConflict(conflictRecord('c2', local, remote, 'resolved'));
        expect((await store.conflicts()).map((item) => item.id)).toEqual(['c1', 'c2']);
        expect((await store.conflicts({ status: 'open' })).map((item) => item.id)).toEqual(['c1']);
        await store.saveConflict(conflictRecord('c1', local, remote, 'resolved'));
        expect(await store.conflicts({ status: 'open' })).toEqual([]);
        const [saved] = await store.conflicts();
        expect(saved?.conflict.local[0]).toEqual(local);
        expect(saved?.resolution?.decision).toBe('keep_remote');
      });

      it('rebases the outbox in one step: removes, appends after the rest, and saves the record', async () => {
        const [a1, b1, a2] = [mine.make('a'), mine.make('b'), mine.make('a')];
        await store.appendLocal([a1, b1, a2]);
        const merged = mine.make('a', { type: 'test.merged' });
        const remote = { event: theirs.make('a'), version: v(1) };
        const added = await store.updateOutbox({
          remove: [a1.id, a2.id],
          add: [merged],
          conflict: conflictRecord('c1', a1, remote, 'resolved'),
        });
        expect(added.map((entry) => entry.event.id)).toEqual([merged.id]);
        expect(ids(await store.pending())).toEqual([b1.id, merged.id]);
        expect((await store.conflicts())[0]?.status).toBe('resolved');
      });

      it('changes nothing when a rebase names an event that is not pending', async () => {
        const a1 = mine.make('a');
        await store.appendLocal([a1]);
        const remote = { event: theirs.make('a'), version: v(1) };
        await expectSyncError(
          () =>
            store.updateOutbox({
              remove: [a1.id, 'NOT-PENDING'],
              add: [mine.make('a')],
              conflict: conflictRecord('c1', a1, remote),
            }),
          'invalid_input',
        );
        expect(ids(await store.pending())).toEqual([a1.id]);
        expect(await store.conflicts()).toEqual([]);
      });
    });

    describe('close and abort', () => {
      let fixture: CallFixture;

      beforeEach(async () => {
        fixture = { pending: mine.make('a'), mine, theirs };
        await store.appendLocal([fixture.pending]);
      });

      /** What every call could change, to show that a refused call changed nothing. */
      async function snapshot(): Promise<unknown> {
        return {
          pending: ids(await store.pending()),
          log: ids(await store.load(CursorVersion.ZERO)),
          cursor: (await store.cursor()).toString(),
          rejections: (await store.rejections()).map((record) => record.event.id),
          conflicts: (await store.conflicts()).map((record) => record.id),
        };
      }

      it.each(LOCAL_CALLS)('fails %s with a closed error after close', async (_method, call) => {
        await store.close();
        await expectSyncError(() => call(store, fixture, {}), 'closed');
      });

      it.each(LOCAL_CALLS)(
        'rejects %s with the signal reason when the signal is aborted, changing nothing',
        async (_method, call) => {
          const before = await snapshot();
          const reason = new Error('stop');
          await expect(call(store, fixture, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
          expect(await snapshot()).toEqual(before);
        },
      );
    });

    itWhenDurable(options, 'keeps the outbox, cursor, rejections and conflicts across a reopen', async () => {
      const [a, b, c] = mine.many(3) as [Event, Event, Event];
      await store.appendLocal([a, b, c]);
      await store.reject([{ id: c.id, code: 'forbidden', reason: 'no' }]);
      const pulled = at(theirs.many(2), 1);
      await store.applyPulled({ events: pulled, cursor: v(2) });
      await store.acknowledge([{ id: a.id, version: v(3) }]);
      await store.saveConflict(conflictRecord('open-one', b, pulled[0]!));
      await store.saveConflict(conflictRecord('resolved-one', a, pulled[1]!, 'resolved'));
      store = await options.reopen!(store);
      expect(ids(await store.pending())).toEqual([b.id]);
      expect((await store.cursor()).toString()).toBe('2');
      expect(ids(await store.load(CursorVersion.ZERO))).toEqual([...ids(pulled), a.id]);
      expect((await store.aggregateVersion(a.aggregateId)).toString()).toBe('3');
      expect((await store.rejections()).map((record) => record.event.id)).toEqual([c.id]);
      const conflicts = await store.conflicts();
      expect(conflicts.map((record) => [record.id, record.status])).toEqual([
        ['open-one', 'open'],
        ['resolved-one', 'resolved'],
      ]);
      expect(conflicts[0]?.conflict.local).toEqual([b]);
      expect(conflicts[0]?.conflict.remote[0]?.event).toEqual(pulled[0]!.event);
      expect(conflicts[0]?.conflict.remote[0]?.version.toString()).toBe('1');
      expect(conflicts[1]?.resolution?.decision).toBe('keep_remote');
      const next = mine.make('a');
      const [entry] = await store.appendLocal([next]);
      const [old] = await store.pending();
      expect(entry!.localSeq).toBeGreaterThan(old!.localSeq);
    });
  });
}
