import { FakeClock, expectSyncError } from '@eventsync/testkit';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Conflict, ConflictResolver } from '../conflict/conflict.js';
import type { Event } from '../event/event.js';
import type { AppendResult } from '../server/server-event-log.js';
import { partialPushError } from '../transport/partial-push.js';
import { SyncError } from '../errors/sync-error.js';
import { CursorVersion } from '../version/cursor-version.js';
import { MemoryEventStore } from '../store/memory-event-store.js';
import { manualConnectivity } from './connectivity.js';
import type { EventState, SyncEventMap } from './sync-types.js';
import {
  createWorld,
  keepLocal,
  keepRemote,
  losingPushAnswers,
  park,
  rejecting,
  spyPull,
  spyPush,
  intercept,
} from './test-support.js';

type World = ReturnType<typeof createWorld>;

const todo = (aggregateId: string, title: string, type = 'todo.renamed') => ({ type, aggregateId, data: { title } });

async function serverIds(world: World): Promise<string[]> {
  return (await world.log.read('default', { limit: 100_000 })).events.map((item) => item.event.id);
}

async function localIds(store: { load(since: CursorVersion): Promise<{ event: Event }[]> }): Promise<string[]> {
  return (await store.load(CursorVersion.ZERO)).map((item) => item.event.id);
}

describe('SyncManager', () => {
  let world: World;

  beforeEach(() => {
    world = createWorld();
  });

  afterEach(async () => {
    await world.close();
  });

  describe('append', () => {
    it('puts events in the outbox with the base version of their aggregate, and says so', async () => {
      const { manager, store } = world.client('a');
      const appended: Event[][] = [];
      manager.on('event.appended', ({ events }) => appended.push([...events]));
      const [first] = await manager.append(todo('t1', 'Milk', 'todo.added'));
      expect(first?.metadata).toMatchObject({ clientId: 'a', baseVersion: '0' });
      expect((await store.pending()).map((entry) => entry.event.id)).toEqual([first!.id]);
      expect(appended).toEqual([[first]]);
      expect(manager.status.pending).toBe(1);
      await manager.sync();
      const [second] = await manager.append(todo('t1', 'Oat milk'));
      expect(second?.metadata.baseVersion).toBe('1');
    });

    it('puts concurrent appends in the store together, in call order, and fails a malformed one alone', async () => {
      const store = new MemoryEventStore();
      const calls: number[] = [];
      const appendLocal = store.appendLocal.bind(store);
      store.appendLocal = (events, options) => {
        calls.push(events.length);
        return appendLocal(events, options);
      };
      const { manager } = world.client('a', { store });
      const results = await Promise.allSettled([
        manager.append(todo('t1', 'one')),
        manager.append([todo('t2', 'two'), todo('t3', 'three')]),
        manager.append({ type: '', aggregateId: 't4', data: {} }),
        manager.append(todo('t1', 'four')),
      ]);
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
      expect(calls).toEqual([4]);
      const titles = (await store.pending()).map((entry) => (entry.event.data as { title: string }).title);
      expect(titles).toEqual(['one', 'two', 'three', 'four']);
    });

    it('appends a list all or none', async () => {
      const { manager, store } = world.client('a');
      await expectSyncError(
        () => manager.append([todo('t1', 'ok'), { type: '', aggregateId: 't2', data: {} }]),
        'invalid_input',
      );
      expect(await store.pendingCount()).toBe(0);
    });
  });

  describe('push batches', () => {
    /** A client whose transport says `preferredPushSize` (when given), recording each push's size. */
    function sizedClient(preferredPushSize: number | undefined, pushBatchSize?: number) {
      const sizes: number[] = [];
      const client = world.client('a', {
        ...(pushBatchSize === undefined ? {} : { pushBatchSize }),
        wrap: (transport) => ({
          ...spyPush(transport, (events) => sizes.push(events.length)),
          ...(preferredPushSize === undefined ? {} : { preferredPushSize }),
        }),
      });
      return { ...client, sizes };
    }

    const tasks = (count: number) => Array.from({ length: count }, (_, i) => todo(`t${i}`, `task ${i}`, 'todo.added'));

    it("are the transport's preferredPushSize when no pushBatchSize is given, else 500", async () => {
      const sized = sizedClient(300);
      await sized.manager.append(tasks(700));
      await sized.manager.sync();
      expect(sized.sizes).toEqual([300, 300, 100]);
      expect(await serverIds(world)).toHaveLength(700);

      const plain = sizedClient(undefined);
      await plain.manager.append(tasks(700));
      await plain.manager.sync();
      expect(plain.sizes).toEqual([500, 200]);
    });

    it("follow the transport's preferredPushSize as it changes", async () => {
      const sizes: number[] = [];
      const a = world.client('a', {
        wrap: (transport) => {
          const spied = spyPush(transport, (events) => sizes.push(events.length));
          // It stopped chaining after its first push.
          return Object.defineProperty(spied, 'preferredPushSize', { get: () => (sizes.length === 0 ? 300 : 100) });
        },
      });
      await a.manager.append(tasks(500));
      await a.manager.sync();
      expect(sizes).toEqual([300, 100, 100]);
    });

    it('are pushBatchSize when it is given, whatever the transport prefers', async () => {
      const sized = sizedClient(300, 250);
      await sized.manager.append(tasks(600));
      await sized.manager.sync();
      expect(sized.sizes).toEqual([250, 250, 100]);
    });

    /**
     * A client whose transport sends each push in parts of `part` events, as a splitting transport
     * does, and fails the part holding the `failAt`-th event it is handed overall (0-based) with
     * `failure(events of that part)`, reporting the results so far as `partialPushError` does.
     * `sent` lists the ids of every event it sent to the server.
     */
    function splittingClient(
      part: number,
      failAt: number,
      failure: (events: readonly Event[]) => SyncError,
      options: { store?: MemoryEventStore; rejectType?: string } = {},
    ) {
      const sent: string[] = [];
      let handed = 0;
      const client = world.client('a', {
        ...(options.store ? { store: options.store } : {}),
        pushBatchSize: 1_000,
        wrap: (base) => {
          // The server, refusing events of `rejectType` when asked to.
          const transport = options.rejectType === undefined ? base : rejecting(base, options.rejectType);
          return intercept(transport, {
            push: async (events, options) => {
              const results: AppendResult[] = [];
              for (let start = 0; start < events.length; start += part) {
                const chunk = events.slice(start, start + part);
                if (handed <= failAt && failAt < handed + chunk.length) {
                  handed = Number.POSITIVE_INFINITY; // once
                  throw partialPushError(failure(chunk), results, events.length);
                }
                handed += chunk.length;
                sent.push(...chunk.map((event) => event.id));
                results.push(...(await transport.push(chunk, options)));
              }
              return results;
            },
          });
        },
      });
      return { ...client, sent };
    }

    it('keeps what a failed push had stored before it failed: acknowledged, not sent again', async () => {
      const a = splittingClient(100, 250, () => new SyncError('network', 'connection reset'));
      const acknowledged: string[] = [];
      a.manager.on('event.acknowledged', ({ acks }) => acknowledged.push(...acks.map((ack) => ack.id)));
      const written = await a.manager.append(tasks(400));
      await expectSyncError(() => a.manager.sync(), 'network');
      expect(acknowledged).toEqual(written.slice(0, 200).map((event) => event.id));
      expect(a.manager.status.pending).toBe(200);
      expect(await a.manager.sync()).toMatchObject({ pushed: 200 });
      expect(a.sent).toEqual(written.map((event) => event.id)); // each sent once
      expect(await serverIds(world)).toEqual(written.map((event) => event.id));
    });

    it('keeps what a push had stored before an event too large for the server, and sends only the rest again', async () => {
      let big: Event | undefined;
      const a = splittingClient(100, 150, (chunk) => {
        big = chunk.find((event) => event.type === 'todo.huge');
        return new SyncError('limit_exceeded', 'Event is larger than maxEventBytes (1024)', {
          details: { limit: 'maxEventBytes', max: 1024, eventId: big!.id },
        });
      });
      const drafts = tasks(300);
      drafts[150] = todo('t150', 'huge', 'todo.huge');
      const written = await a.manager.append(drafts);
      expect(await a.manager.sync()).toMatchObject({ pushed: 299, rejected: 1 });
      expect(await a.manager.eventState(big!.id)).toMatchObject({ status: 'rejected', code: 'too_large' });
      const rest = written.filter((event) => event.id !== big!.id).map((event) => event.id);
      expect(a.sent).toEqual(rest); // the first 100 once, not again after the failure
      expect(await serverIds(world)).toEqual(rest);
    });

    it('ignores results a failed push reports that do not answer the first events of the batch, well-formed', async () => {
      const garbles: ((results: AppendResult[], events: readonly Event[]) => unknown[])[] = [
        (results) => results.slice(1), // not the first events
        (results) => results.map((result) => ({ ...result, version: '1' })), // a version that is not one
        (results) => results.map((result) => ({ ...result, status: 'stored' })),
        (results, events) => [...results, ...events.map((event) => ({ id: event.id, status: 'accepted' }))],
      ];
      for (const [n, garble] of garbles.entries()) {
        const a = world.client(`g${n}`, {
          wrap: (transport) =>
            intercept(transport, {
              push: async (events, options) => {
                const results = await transport.push(events.slice(0, 2), options);
                const error = new SyncError('network', 'gone', { details: { results: garble(results, events) } });
                throw error;
              },
            }),
        });
        await a.manager.append(tasks(5));
        await expectSyncError(() => a.manager.sync(), 'network');
        expect(a.manager.status.pending).toBe(5);
      }
    });

    it('records the rejections a failed push reports, and does not send those events again', async () => {
      const a = splittingClient(100, 150, () => new SyncError('network', 'connection reset'), {
        rejectType: 'todo.forbidden',
      });
      const drafts = tasks(300);
      drafts[5] = { type: 'todo.forbidden', aggregateId: 't5', data: { title: 'no' } };
      const written = await a.manager.append(drafts);
      const rejected: string[] = [];
      a.manager.on('event.rejected', ({ rejections }) => rejected.push(...rejections.map((item) => item.event.id)));
      await expectSyncError(() => a.manager.sync(), 'network');
      expect(rejected).toEqual([written[5]!.id]);
      expect(await a.manager.eventState(written[5]!.id)).toMatchObject({ status: 'rejected', code: 'forbidden' });
      expect(a.manager.status.pending).toBe(200); // from the part it failed on
      expect(await a.manager.sync()).toMatchObject({ pushed: 200, rejected: 0 });
      expect(a.manager.status.pending).toBe(0);
      expect(a.sent.filter((id) => id === written[5]!.id)).toHaveLength(1);
    });

    it('fails with the push error when recording what it had stored fails too', async () => {
      const store = new MemoryEventStore();
      store.acknowledge = () => Promise.reject(new SyncError('storage', 'the disk is full'));
      const a = splittingClient(100, 150, () => new SyncError('network', 'connection reset'), { store });
      await a.manager.append(tasks(300));
      const error = await expectSyncError(() => a.manager.sync(), 'network');
      expect(error.retryable).toBe(true);
    });

    it("refuses a transport's preferredPushSize that is not a positive integer, naming it", () => {
      for (const preferredPushSize of [0, 1.5, -4, Number.NaN]) {
        expect(() => sizedClient(preferredPushSize)).toThrow(
          expect.objectContaining({ code: 'invalid_input', details: { field: 'transport.preferredPushSize' } }),
        );
      }
    });
  });

  describe('sync', () => {
    it("pushes local events and pulls other clients', so both logs equal the server's", async () => {
      const a = world.client('a');
      const b = world.client('b');
      await a.manager.append([todo('t1', 'Milk', 'todo.added'), todo('t2', 'Bread', 'todo.added')]);
      await b.manager.append(todo('t3', 'Tea', 'todo.added'));
      const first = await a.manager.sync();
      expect(first).toMatchObject({ pushed: 2, pulled: 0, acknowledged: 2, conflicts: 0, rounds: 1, settled: true });
      const second = await b.manager.sync();
      expect(second).toMatchObject({ pushed: 1, pulled: 2, conflicts: 0 });
      await a.manager.sync();
      const server = await serverIds(world);
      expect(server).toHaveLength(3);
      expect(await localIds(a.store)).toEqual(server);
      expect(await localIds(b.store)).toEqual(server);
      expect(a.manager.status).toMatchObject({ pending: 0, syncing: false });
      expect(a.manager.status.cursor.toString()).toBe('3');
    });

    it('never pushes back what it pulled, and never pushes an event twice', async () => {
      const a = world.client('a');
      const pushed: string[] = [];
      const b = world.client('b', {
        wrap: (transport) => spyPush(transport, (events) => pushed.push(...events.map((event) => event.id))),
      });
      await a.manager.append(todo('t1', 'Milk'));
      await a.manager.sync();
      await b.manager.sync();
      await b.manager.sync();
      expect(pushed).toEqual([]);
      const [own] = await b.manager.append(todo('t2', 'Tea'));
      await b.manager.sync();
      await b.manager.sync();
      expect(pushed).toEqual([own!.id]);
    });

    it('treats sequential edits of an aggregate as no conflict', async () => {
      const a = world.client('a');
      const b = world.client('b', { resolver: failingResolver() });
      await a.manager.append(todo('t1', 'Milk'));
      await a.manager.sync();
      await b.manager.sync();
      await b.manager.append(todo('t1', 'Oat milk'));
      const result = await b.manager.sync();
      expect(result).toMatchObject({ conflicts: 0, pushed: 1 });
      await a.manager.sync();
      await a.manager.append(todo('t1', 'Soy milk'));
      expect((await a.manager.sync()).conflicts).toBe(0);
    });

    it('detects concurrent edits on pull and rebases the local events on top (keep local)', async () => {
      const a = world.client('a');
      const seen: Conflict[] = [];
      const b = world.client('b', { resolver: recording(keepLocal, seen) });
      await a.manager.append(todo('t1', 'Milk', 'todo.added'));
      await a.manager.sync();
      await b.manager.sync();
      const [fromA] = await a.manager.append(todo('t1', 'Oat milk'));
      const [fromB] = await b.manager.append(todo('t1', 'Soy milk'));
      await a.manager.sync();
      const result = await b.manager.sync();
      expect(result).toMatchObject({ conflicts: 1, resolved: 1, pushed: 1, settled: true });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.local.map((event) => event.id)).toEqual([fromB!.id]);
      expect(seen[0]?.remote.map((item) => item.event.id)).toEqual([fromA!.id]);
      expect(seen[0]?.changedFields).toEqual(['title']);
      await a.manager.sync();
      const server = await serverIds(world);
      expect(server.slice(-2)).toEqual([fromA!.id, fromB!.id]);
      expect(await localIds(a.store)).toEqual(server);
      expect(await localIds(b.store)).toEqual(server);
      const [record] = await b.manager.conflicts();
      expect(record).toMatchObject({
        status: 'resolved',
        resolution: { decision: 'keep_local', reasons: ['test: local wins'] },
      });
    });

    it('drops the local events when the remote side wins, and records the decision', async () => {
      const a = world.client('a');
      const b = world.client('b', { resolver: keepRemote });
      await a.manager.sync();
      await b.manager.sync();
      await a.manager.append(todo('t1', 'Oat milk'));
      const [fromB] = await b.manager.append(todo('t1', 'Soy milk'));
      await a.manager.sync();
      expect(await b.manager.sync()).toMatchObject({ conflicts: 1, pushed: 0 });
      expect(await b.store.pendingCount()).toBe(0);
      expect(await serverIds(world)).not.toContain(fromB!.id);
      expect(await b.manager.eventState(fromB!.id)).toMatchObject({ status: 'resolved', decision: 'keep_remote' });
    });

    it('resolves a conflict the server found on push, in a second round of the same sync', async () => {
      const a = world.client('a');
      let raced = false;
      const b = world.client('b', {
        // A's edit lands after B's pull and before B's push: only the server can see the conflict.
        wrap: (transport) =>
          spyPush(transport, async () => {
            if (raced) return;
            raced = true;
            await a.manager.append(todo('t1', 'from a'));
            await a.manager.sync();
          }),
      });
      await b.manager.append(todo('t1', 'from b'));
      const result = await b.manager.sync();
      expect(result).toMatchObject({ rounds: 2, conflicts: 1, resolved: 1, pushed: 1, settled: true });
      expect(await serverIds(world)).toHaveLength(2);
    });

    it('keeps the order of one client’s events, holding back an aggregate after its conflict', async () => {
      const a = world.client('a');
      const b = world.client('b', { pushBatchSize: 1, resolver: keepLocal });
      await a.manager.sync();
      await a.manager.append(todo('t1', 'a1'));
      await a.manager.sync();
      const mine = await b.manager.append([todo('t1', 'b1'), todo('t2', 'b2'), todo('t1', 'b3')]);
      await b.manager.sync();
      const fromB = (await world.log.read('default')).events.filter((item) => item.event.metadata.clientId === 'b');
      expect(fromB.map((item) => item.event.data)).toEqual(
        mine
          .filter((e) => e.aggregateId === 't2')
          .concat(mine.filter((e) => e.aggregateId === 't1'))
          .map((e) => e.data),
      );
      expect(
        fromB
          .filter((item) => item.event.aggregateId === 't1')
          .map((item) => (item.event.data as { title: string }).title),
      ).toEqual(['b1', 'b3']);
    });

    it('takes a permanently rejected event out of the outbox, records why, and pushes the events behind it', async () => {
      const a = world.client('a', { wrap: (transport) => rejecting(transport, 'todo.forbidden') });
      const [bad, good] = await a.manager.append([todo('t1', 'nope', 'todo.forbidden'), todo('t2', 'fine')]);
      const rejected: string[] = [];
      a.manager.on('event.rejected', ({ rejections }) => rejected.push(...rejections.map((item) => item.event.id)));
      const result = await a.manager.sync();
      expect(result).toMatchObject({ rejected: 1, pushed: 1 });
      expect(rejected).toEqual([bad!.id]);
      expect(await a.manager.eventState(bad!.id)).toEqual({
        status: 'rejected',
        code: 'forbidden',
        reason: 'not allowed in tests',
      });
      expect((await a.manager.eventState(good!.id)).status).toBe('acknowledged');
      expect((await a.manager.sync()).rejected).toBe(0);
    });

    it('rejects an event the server finds too large, and pushes the rest', async () => {
      const a = world.client('a', {
        wrap: (transport) =>
          spyPush(transport, (events) => {
            const big = events.find((event) => event.type === 'todo.huge');
            if (big) {
              throw new SyncError('limit_exceeded', 'Event is larger than maxEventBytes (1024)', {
                details: { limit: 'maxEventBytes', max: 1024, eventId: big.id },
              });
            }
          }),
      });
      const [small, big, after] = await a.manager.append([
        todo('t1', 'ok'),
        todo('t2', 'x', 'todo.huge'),
        todo('t3', 'ok too'),
      ]);
      const result = await a.manager.sync();
      expect(result).toMatchObject({ rejected: 1, pushed: 2 });
      expect(await a.manager.eventState(big!.id)).toMatchObject({ status: 'rejected', code: 'too_large' });
      expect(await serverIds(world)).toEqual([small!.id, after!.id]);
    });

    it('parks conflicts for the manual inbox, pushes nothing of them, and pushes the choice later', async () => {
      const a = world.client('a');
      const b = world.client('b', { resolver: park });
      await a.manager.sync();
      await b.manager.sync();
      await a.manager.append(todo('t1', 'from a'));
      const [fromB] = await b.manager.append(todo('t1', 'from b'));
      await a.manager.sync();
      expect(await b.manager.sync()).toMatchObject({ parked: 1, pushed: 0 });
      expect(b.manager.status.parked).toBe(1);
      const [inbox] = await b.manager.conflicts({ status: 'open' });
      expect(await b.manager.eventState(fromB!.id)).toEqual({ status: 'conflicted', conflictId: inbox!.id });
      expect(await b.manager.sync()).toMatchObject({ pushed: 0 });
      await b.manager.resolveConflict(inbox!.id, 'keep_local');
      expect(await b.manager.sync()).toMatchObject({ pushed: 1 });
      expect((await serverIds(world)).at(-1)).toBe(fromB!.id);
      expect(b.manager.status.parked).toBe(0);
      await expectSyncError(() => b.manager.resolveConflict(inbox!.id, 'keep_remote'), 'conflict');
      await expectSyncError(() => b.manager.resolveConflict('nope', 'keep_remote'), 'not_found');
    });

    it('holds back later events of a parked aggregate and pushes them after the decision, in order', async () => {
      const a = world.client('a');
      const b = world.client('b', { resolver: park });
      await a.manager.sync();
      await b.manager.sync();
      await a.manager.append(todo('t1', 'from a'));
      const [parkedEvent] = await b.manager.append(todo('t1', 'b first'));
      await a.manager.sync();
      await b.manager.sync();
      const [later] = await b.manager.append(todo('t1', 'b second'));
      const [elsewhere] = await b.manager.append(todo('t2', 'b elsewhere'));
      expect(await b.manager.sync()).toMatchObject({ pushed: 1 });
      expect(await serverIds(world)).not.toContain(later!.id);
      expect(await serverIds(world)).toContain(elsewhere!.id);
      const [inbox] = await b.manager.conflicts({ status: 'open' });
      await b.manager.resolveConflict(inbox!.id, 'keep_local');
      await b.manager.sync();
      const fromB = (await world.log.read('default')).events.filter(
        (item) => item.event.metadata.clientId === 'b' && item.event.aggregateId === 't1',
      );
      expect(fromB.map((item) => item.event.id)).toEqual([parkedEvent!.id, later!.id]);
    });

    it('stamps events after those it made before a restart, even when the wall clock went back', async () => {
      const clock = new FakeClock({ now: Date.UTC(2026, 5, 1) });
      const first = world.client('a', { timers: clock });
      const [before] = await first.manager.append(todo('t1', 'before the crash'));
      await first.manager.close();
      clock.set(Date.UTC(2026, 0, 1));
      const again = world.client('a', { store: first.store, timers: clock });
      const [after] = await again.manager.append(todo('t1', 'after the restart'));
      expect(after!.metadata.timestamp > before!.metadata.timestamp).toBe(true);
    });

    it('acknowledges an event whose push answer was lost when it shows up in the next pull', async () => {
      let lose = true;
      const a = world.client('a', { wrap: (transport) => losingPushAnswers(transport, () => lose) });
      const [event] = await a.manager.append(todo('t1', 'Milk'));
      await expectSyncError(() => a.manager.sync(), 'network');
      expect(await serverIds(world)).toEqual([event!.id]);
      expect(a.manager.status.pending).toBe(1);
      lose = false;
      const result = await a.manager.sync();
      expect(result).toMatchObject({ acknowledged: 1, pushed: 0 });
      expect(await serverIds(world)).toEqual([event!.id]);
      expect(await a.manager.eventState(event!.id)).toMatchObject({ status: 'acknowledged' });
    });

    it('fails with a SyncError, records it in the status, says so, and keeps the progress made', async () => {
      const a = world.client('a', { pushBatchSize: 1 });
      await a.manager.append([todo('t1', 'one'), todo('t2', 'two')]);
      const failures: SyncEventMap['sync.failed'][] = [];
      a.manager.on('sync.failed', (payload) => failures.push(payload));
      let pushes = 0;
      const b = world.client('b', {
        pushBatchSize: 1,
        wrap: (transport) =>
          spyPush(transport, () => {
            if (++pushes === 2) throw new SyncError('unavailable', 'server busy');
          }),
      });
      await b.manager.append([todo('t1', 'one'), todo('t2', 'two')]);
      const error = await expectSyncError(() => b.manager.sync(), 'unavailable');
      expect(error.retryable).toBe(true);
      expect(b.manager.status.lastError).toBe(error);
      expect(b.manager.status.pending).toBe(1);
      expect(await serverIds(world)).toHaveLength(1);
      world.network.partition('a');
      await expectSyncError(() => a.manager.sync(), 'network');
      expect(failures).toHaveLength(1);
      expect(failures[0]?.error.code).toBe('network');
      world.network.heal();
      await a.manager.sync();
      expect(a.manager.status.lastError).toBeUndefined();
    });

    it('runs one sync at a time: a sync() during a sync joins it', async () => {
      let pulls = 0;
      const b = world.client('b', { wrap: (transport) => spyPull(transport, () => pulls++) });
      const [one, two] = await Promise.all([b.manager.sync(), b.manager.sync()]);
      expect(one).toBe(two);
      expect(pulls).toBe(1);
      await b.manager.sync();
      expect(pulls).toBe(2);
    });

    it('rejects with the signal reason when aborted, and stops the run once no caller waits', async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const b = world.client('b', { wrap: (transport) => spyPull(transport, () => gate) });
      const controller = new AbortController();
      const reason = new Error('user left');
      const running = b.manager.sync({ signal: controller.signal });
      controller.abort(reason);
      await expect(running).rejects.toBe(reason);
      release();
      const before = new AbortController();
      before.abort(reason);
      await expect(b.manager.sync({ signal: before.signal })).rejects.toBe(reason);
    });

    it('fails every call after close, and closes twice without error', async () => {
      const a = world.client('a');
      await a.manager.close();
      await a.manager.close();
      await expectSyncError(() => a.manager.sync(), 'closed');
      await expectSyncError(() => a.manager.append(todo('t1', 'x')), 'closed');
      expect(() => a.manager.start()).toThrow(SyncError);
    });
  });

  describe('event states', () => {
    it('can be watched from pending to acknowledged', async () => {
      const a = world.client('a');
      const [event] = await a.manager.append(todo('t1', 'Milk'));
      const states: EventState[] = [];
      const stop = a.manager.watchEvent(event!.id, (state) => states.push(state));
      await vi.waitFor(() => expect(states).toHaveLength(1));
      await a.manager.sync();
      await vi.waitFor(() => expect(states).toHaveLength(2));
      expect(states[0]).toEqual({ status: 'pending' });
      expect(states[1]).toMatchObject({ status: 'acknowledged' });
      expect(states[1]?.status === 'acknowledged' && states[1].version.toString()).toBe('1');
      stop();
      expect(await a.manager.eventState('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toEqual({ status: 'unknown' });
    });
  });

  describe('auto sync', () => {
    let clock: FakeClock;

    beforeEach(() => {
      clock = new FakeClock();
    });

    function autoClient(id: string, options: Parameters<World['client']>[1] = {}) {
      return world.client(id, {
        timers: clock,
        random: () => 0,
        autoSync: { live: false, pollIntervalMs: 5000, debounceMs: 50 },
        ...options,
      });
    }

    it('syncs at start, shortly after appends, and on the poll interval', async () => {
      const a = autoClient('a');
      const completed: number[] = [];
      a.manager.on('sync.completed', () => completed.push(clock.now()));
      const start = clock.now();
      a.manager.start();
      await clock.advance(0);
      expect(completed).toEqual([start]);
      await a.manager.append(todo('t1', 'x'));
      await a.manager.append(todo('t1', 'y'));
      await clock.advance(49);
      expect(completed).toHaveLength(1);
      await clock.advance(1);
      expect(completed).toHaveLength(2);
      expect(await serverIds(world)).toHaveLength(2);
      await clock.advance(5000);
      expect(completed).toHaveLength(3);
      await a.manager.close();
      expect(clock.pendingTimers).toBe(0);
    });

    it('backs off exponentially on retryable failures and resets after a success', async () => {
      const a = autoClient('a', { retry: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 } });
      const attempts: number[] = [];
      a.manager.on('sync.started', ({ at }) => attempts.push(at));
      world.network.partition('a');
      const start = clock.now();
      a.manager.start();
      await clock.advance(0);
      for (let i = 0; i < 6; i++) await clock.advance(a.manager.status.nextSyncAt! - clock.now());
      const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
      expect(attempts[0]).toBe(start);
      expect(gaps).toEqual([100, 200, 400, 800, 1000, 1000]);
      world.network.heal();
      await clock.advance(a.manager.status.nextSyncAt! - clock.now());
      expect(a.manager.status.lastError).toBeUndefined();
      expect(a.manager.status.nextSyncAt! - clock.now()).toBe(5000);
    });

    it('does not retry fast after a permanent failure', async () => {
      const a = autoClient('a', {
        wrap: (transport) => spyPull(transport, () => Promise.reject(new SyncError('unauthorized', 'bad token'))),
      });
      a.manager.start();
      await clock.advance(0);
      expect(a.manager.status.lastError?.code).toBe('unauthorized');
      expect(a.manager.status.nextSyncAt! - clock.now()).toBe(5000);
    });

    it('pauses while offline and syncs as soon as it is back online', async () => {
      const connectivity = manualConnectivity(false);
      const a = autoClient('a', { connectivity });
      const changes: boolean[] = [];
      a.manager.on('connection.changed', ({ online }) => changes.push(online));
      a.manager.start();
      await a.manager.append(todo('t1', 'offline edit'));
      await clock.advance(60_000);
      expect(await serverIds(world)).toEqual([]);
      expect(a.manager.status.online).toBe(false);
      connectivity.set(true);
      await clock.advance(0);
      expect(await serverIds(world)).toHaveLength(1);
      expect(changes).toEqual([true]);
    });

    it('syncs when a live batch arrives, and polls while the subscription is down', async () => {
      const a = world.client('a');
      const b = world.client('b', {
        timers: clock,
        random: () => 0,
        autoSync: { live: true, intervalMs: 30_000, pollIntervalMs: 5000 },
      });
      b.manager.start();
      await clock.advance(0);
      await vi.waitFor(() => expect(b.manager.status.live).toBe('live'));
      await a.manager.append(todo('t1', 'from a'));
      await a.manager.sync();
      await vi.waitFor(async () => {
        await clock.advance(0);
        expect(b.manager.status.cursor.toString()).toBe('1');
      });
      expect(b.manager.status.nextSyncAt! - clock.now()).toBe(30_000);
      world.network.partition('b');
      await vi.waitFor(() => expect(b.manager.status.live).toBe('connecting'));
      world.network.heal();
    });
  });
});

function failingResolver(): ConflictResolver {
  return {
    resolve: () => {
      throw new Error('no conflict expected');
    },
  };
}

function recording(resolver: ConflictResolver, seen: Conflict[]): ConflictResolver {
  return {
    resolve: (conflict, context) => {
      seen.push(conflict);
      return resolver.resolve(conflict, context);
    },
  };
}
