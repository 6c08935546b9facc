import {
  CursorVersion,
  MemoryEventStore,
  isSyncError,
  type Event,
  type LocalEventStore,
  type VersionedEvent,
} from '@eventsync/core';
import { TestEvents, propertyOptions } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { freshIndexedDb, openStore } from '../test/support/fake-indexeddb.js';

/** One step of a run: what to do, with two numbers the step reads as it likes. */
interface Step {
  readonly kind:
    | 'append'
    | 'appendAgain'
    | 'appendReused'
    | 'foreign'
    | 'accept'
    | 'acknowledge'
    | 'acknowledgeWrong'
    | 'pull'
    | 'late'
    | 'store'
    | 'reject'
    | 'rebase';
  readonly a: number;
  readonly b: number;
}

const step: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom(
    'append',
    'append',
    'appendAgain',
    'appendReused',
    'foreign',
    'foreign',
    'accept',
    'acknowledge',
    'acknowledgeWrong',
    'pull',
    'pull',
    'late',
    'store',
    'reject',
    'rebase',
  ),
  a: fc.nat(30),
  b: fc.nat(5),
});

/** What a call gave: its result with versions as strings, or its error code. */
async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  try {
    return JSON.parse(JSON.stringify((await call()) ?? null)) as unknown;
  } catch (error) {
    if (isSyncError(error)) return { error: error.code };
    throw error;
  }
}

/** Everything a reader can see of a store. */
async function snapshot(store: LocalEventStore, ids: readonly string[], aggregates: readonly string[]) {
  const strip = (list: VersionedEvent[]) => list.map((item) => [item.event.id, item.version.toString()]);
  return JSON.parse(
    JSON.stringify({
      pending: (await store.pending()).map((entry) => [entry.event.id, entry.localSeq]),
      pendingCount: await store.pendingCount(),
      log: strip(await store.load(CursorVersion.ZERO)),
      paged: strip(await store.load(CursorVersion.of(3), { limit: 4 })),
      latest: (await store.latestVersion()).toString(),
      cursor: (await store.cursor()).toString(),
      rejections: (await store.rejections()).map((record) => [record.event.id, record.code]),
      found: await Promise.all(ids.map((id) => store.find(id))),
      aggregates: await Promise.all(
        aggregates.map(async (aggregate) => [
          (await store.aggregateVersion(aggregate)).toString(),
          strip(await store.loadByAggregate(aggregate, CursorVersion.of(2))),
          (await store.pending({ aggregateId: aggregate })).map((entry) => entry.event.id),
        ]),
      ),
    }),
  ) as unknown;
}

/**
 * Runs `steps` against both stores, as a server and a client would: foreign events land on the
 * server, this client's pending events are accepted there, pulls bring pages of the server's log.
 * Every call must answer alike on both stores, and both must end up showing the same.
 */
async function runBoth(steps: readonly Step[]): Promise<void> {
  const reference = new MemoryEventStore();
  const factory = freshIndexedDb();
  const store = await openStore(factory);
  const mine = new TestEvents({ clientId: 'me' });
  const theirs = new TestEvents({ clientId: 'them' });
  const aggregates = ['a', 'b', 'c'];
  const server: VersionedEvent[] = [];
  /** Server events this client's pulls filter out: the cursor moves past them. */
  const filtered = new Set<string>();
  const accepted = new Map<string, number>();
  const appended: Event[] = [];
  const both = async (call: (s: LocalEventStore) => Promise<unknown>): Promise<void> => {
    const expected = await outcome(() => call(reference));
    expect(await outcome(() => call(store))).toEqual(expected);
  };
  const pendingIds = async (): Promise<string[]> => (await reference.pending()).map((entry) => entry.event.id);
  try {
    for (const { kind, a, b } of steps) {
      switch (kind) {
        case 'append': {
          const events = Array.from({ length: 1 + (a % 4) }, (_, i) => mine.make(aggregates[(a + i) % 3]!));
          appended.push(...events);
          await both((s) => s.appendLocal(events));
          break;
        }
        case 'appendAgain': {
          const again = appended[a % Math.max(1, appended.length)];
          const fresh = mine.make('a');
          appended.push(fresh);
          if (again) await both((s) => s.appendLocal([again, fresh]));
          break;
        }
        case 'appendReused': {
          const reused = appended[a % Math.max(1, appended.length)];
          if (reused) await both((s) => s.appendLocal([{ ...reused, data: { reused: b } }]));
          break;
        }
        case 'foreign':
          for (let i = 0; i <= b; i++) {
            const event = theirs.make(aggregates[(a + i) % 3]!);
            server.push({ event, version: CursorVersion.of(server.length + 1) });
            if (a % 5 === 0) filtered.add(event.id);
          }
          break;
        case 'accept':
        case 'acknowledge': {
          // The server takes the first pending events; `acknowledge` also tells the client.
          const acks: { id: string; version: CursorVersion }[] = [];
          for (const id of (await pendingIds()).slice(0, 1 + (b % 3))) {
            let version = accepted.get(id);
            if (version === undefined) {
              const event = (await reference.find(id))!.event;
              version = server.length + 1;
              server.push({ event, version: CursorVersion.of(version) });
              accepted.set(id, version);
            }
            acks.push({ id, version: CursorVersion.of(version) });
          }
          if (kind === 'acknowledge' && acks.length > 0) await both((s) => s.acknowledge(acks));
          break;
        }
        case 'acknowledgeWrong': {
          const [id] = await pendingIds();
          const target = id ?? '01ARZ3NDEKTSV4RRFFQ69G5FAW';
          await both((s) => s.acknowledge([{ id: target, version: CursorVersion.of(server.length + 50 + b) }]));
          await both((s) => s.acknowledge([{ id: '01ARZ3NDEKTSV4RRFFQ69G5FAV', version: CursorVersion.of(1) }]));
          break;
        }
        case 'pull': {
          const cursor = (await reference.cursor()).value;
          const after = server.filter((item) => item.version.value > cursor).slice(0, 1 + (a % 7));
          const page = after.filter((item) => !filtered.has(item.event.id));
          const next = after.at(-1)?.version ?? CursorVersion.of(cursor);
          if (b === 0 && page.length > 1) {
            // A broken page: one event moved to a version another one holds.
            const broken = [...page];
            broken[1] = { event: broken[1]!.event, version: broken[0]!.version };
            await both((s) => s.applyPulled({ events: broken, cursor: next }));
          } else {
            await both((s) => s.applyPulled({ events: page, cursor: next }));
          }
          break;
        }
        case 'late': {
          // A filtered-out event brought later: new, but at or below the cursor once the cursor passed it.
          const late = server.filter((item) => filtered.has(item.event.id))[a % Math.max(1, filtered.size)];
          const cursor = await reference.cursor();
          if (late) {
            const next = late.version.compare(cursor) > 0 ? late.version : cursor;
            await both((s) => s.applyPulled({ events: [late], cursor: next }));
          }
          break;
        }
        case 'store': {
          const item = server[a % Math.max(1, server.length)];
          if (item)
            await both((s) => s.store(item.event, b === 0 ? CursorVersion.of(item.version.value + 1) : item.version));
          break;
        }
        case 'reject': {
          const ids = (await pendingIds()).filter((id) => !accepted.has(id)).slice(0, 1 + (b % 2));
          if (ids.length > 0)
            await both((s) => s.reject(ids.map((id) => ({ id, code: 'forbidden', reason: `r${a}` }))));
          break;
        }
        case 'rebase': {
          const aggregate = aggregates[a % 3]!;
          const remove = (await reference.pending({ aggregateId: aggregate }))
            .map((entry) => entry.event.id)
            .filter((id) => !accepted.has(id));
          const add = b % 2 === 0 ? [mine.make(aggregate, { type: 'test.rebased' })] : [];
          appended.push(...add);
          await both((s) => s.updateOutbox({ remove, add }));
          break;
        }
      }
    }
    const ids = [...appended.map((event) => event.id), ...server.map((item) => item.event.id)];
    expect(await snapshot(store, ids, aggregates)).toEqual(await snapshot(reference, ids, aggregates));
    // And the same again from the database alone.
    await store.close();
    const reopened = await openStore(factory);
    try {
      const { pending, log, cursor } = (await snapshot(reopened, ids, aggregates)) as Record<string, unknown>;
      const expected = (await snapshot(reference, ids, aggregates)) as Record<string, unknown>;
      expect({ pending, log, cursor }).toEqual({
        pending: expected.pending,
        log: expected.log,
        cursor: expected.cursor,
      });
    } finally {
      await reopened.close();
    }
  } finally {
    await store.close();
  }
}

describe('IndexedDbEventStore against MemoryEventStore', () => {
  it('answers every call and shows every read as the reference does, across random runs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), (steps) => runBoth(steps)),
      propertyOptions({ numRuns: 150 }),
    );
  }, 120_000);
});
