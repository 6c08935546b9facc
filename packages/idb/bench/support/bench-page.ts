// The workloads of `idb.bench.ts`, run inside Chromium: each benchmark side prepares (untimed), runs
// (timed from Node around one `page.evaluate`), and checks its work (untimed). Raw IndexedDB sides use
// the plain API the way a careful hand-written store would.

import { CursorVersion, EventFactory, type Event } from '@eventsync/core';
import { IndexedDbEventStore } from '../../src/index.js';

/** The workloads, by name. */
export type Workload = 'appendBatches' | 'appendSingles' | 'pullPages' | 'readAll' | 'pullHeap';
export type Side = 'raw' | 'store';

const BATCH = 1_000;
const AGGREGATES = 1_000;

/** Fixture events: realistic sizes, `AGGREGATES` aggregates round robin. */
let fixture: Event[] = [];
/** What the prepared side works on. */
let state: { side: Side; workload: Workload; name: string; db?: IDBDatabase; store?: IndexedDbEventStore } | undefined;
let databases = 0;

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('request failed'));
  });
}

function committed(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error('transaction failed'));
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

/** The raw baseline's database: one object store of `{ version, event }` records keyed by version, and a meta store. */
async function openRaw(name: string): Promise<IDBDatabase> {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    open.result.createObjectStore('events', { keyPath: 'version' });
    open.result.createObjectStore('meta');
  };
  return request(open);
}

async function deleteAll(): Promise<void> {
  for (const { name } of await indexedDB.databases()) {
    if (name) await request(indexedDB.deleteDatabase(name));
  }
}

/** Builds the fixture once per benchmark: `size` events (ids, timestamps, validation as in an app). */
function makeFixture(size: number): number {
  const factory = new EventFactory({ clientId: 'bench' });
  fixture = Array.from({ length: size }, (_, i) =>
    factory.create({
      type: i % 10 === 0 ? 'todo.renamed' : 'todo.added',
      aggregateId: `todo-${i % AGGREGATES}`,
      data: { title: `Buy milk #${i}`, done: false, tags: ['home', 'errand'], priority: i % 5 },
    }),
  );
  return fixture.length;
}

/**
 * The events of the 1M-event heap run: made page by page from one template with fresh ULIDs, so the
 * page's heap holds no fixture of a million events.
 */
function heapPage(first: number, count: number): { event: Event; version: CursorVersion }[] {
  const template = fixture[0]!;
  const page: { event: Event; version: CursorVersion }[] = [];
  for (let i = 0; i < count; i++) {
    const n = first + i;
    page.push({
      event: { ...template, id: `01${crockford(n, 24)}` },
      version: CursorVersion.of(n + 1),
    });
  }
  return page;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** `n` in Crockford base32, `width` characters: with a `01` prefix, a valid, unique, sortable ULID. */
function crockford(n: number, width: number): string {
  let text = '';
  for (let rest = n; text.length < width; rest = Math.floor(rest / 32)) text = CROCKFORD[rest % 32]! + text;
  return text;
}

/** Untimed: a fresh database for the side, and for reads, the events already in it. */
async function prepare(side: Side, workload: Workload): Promise<void> {
  await finish();
  await deleteAll();
  const name = `bench-${databases++}`;
  state = { side, workload, name };
  if (side === 'raw') state.db = await openRaw(name);
  else state.store = await IndexedDbEventStore.open({ name, BroadcastChannel: null });
  if (workload === 'readAll') {
    if (side === 'raw') await rawPuts(state.db!, fixture.length);
    else await pull(state.store!, fixture.length);
  }
}

async function rawPuts(db: IDBDatabase, size: number): Promise<void> {
  for (let first = 0; first < size; first += BATCH) {
    const tx = db.transaction(['events', 'meta'], 'readwrite');
    const events = tx.objectStore('events');
    const end = Math.min(first + BATCH, size);
    for (let i = first; i < end; i++) events.put({ version: i + 1, event: fixture[i] });
    tx.objectStore('meta').put(end, 'cursor');
    await committed(tx);
  }
}

async function pull(store: IndexedDbEventStore, size: number): Promise<void> {
  for (let first = 0; first < size; first += BATCH) {
    const end = Math.min(first + BATCH, size);
    await store.applyPulled({
      events: fixture.slice(first, end).map((event, i) => ({ event, version: CursorVersion.of(first + i + 1) })),
      cursor: CursorVersion.of(end),
    });
  }
}

/** Timed: the workload. */
async function run(size: number): Promise<number> {
  const { side, workload, db, store } = state!;
  switch (workload) {
    case 'appendBatches':
      if (side === 'raw') {
        for (let first = 0; first < size; first += BATCH) {
          const tx = db!.transaction('events', 'readwrite');
          const events = tx.objectStore('events');
          for (let i = first; i < first + BATCH; i++) events.put({ version: i + 1, event: fixture[i] });
          await committed(tx);
        }
      } else {
        for (let first = 0; first < size; first += BATCH) await store!.appendLocal(fixture.slice(first, first + BATCH));
      }
      return size;
    case 'appendSingles':
      if (side === 'raw') {
        await Promise.all(
          fixture.slice(0, size).map((event, i) => {
            const tx = db!.transaction('events', 'readwrite');
            tx.objectStore('events').put({ version: i + 1, event });
            return committed(tx);
          }),
        );
      } else {
        await Promise.all(fixture.slice(0, size).map((event) => store!.appendLocal([event])));
      }
      return size;
    case 'pullPages':
      if (side === 'raw') await rawPuts(db!, size);
      else await pull(store!, size);
      return size;
    case 'readAll':
      if (side === 'raw') {
        const tx = db!.transaction('events');
        return (await request(tx.objectStore('events').getAll())).length;
      }
      return (await store!.load(CursorVersion.ZERO)).length;
    case 'pullHeap':
      for (let first = 0; first < size; first += BATCH) {
        const page = heapPage(first, Math.min(BATCH, size - first));
        if (side === 'raw') {
          // The raw limit of page-sized writes: each page one record, with its cursor.
          const tx = db!.transaction(['events', 'meta'], 'readwrite');
          tx.objectStore('events').put({ version: first + 1, events: page.map((item) => item.event) });
          tx.objectStore('meta').put(first + page.length, 'cursor');
          await committed(tx);
        } else {
          await store!.applyPulled({ events: page, cursor: page.at(-1)!.version });
        }
      }
      return size;
  }
}

/** Untimed: checks the work was done; returns how many events the side holds. */
async function check(): Promise<number> {
  const { side, workload, db, store } = state!;
  if (side === 'raw') {
    const count = await request(db!.transaction('events').objectStore('events').count());
    return workload === 'pullHeap' ? count * BATCH : count;
  }
  if (workload === 'appendBatches' || workload === 'appendSingles') return store!.pendingCount();
  return (await store!.latestVersion()).value;
}

/** Closes what the last side opened. */
async function finish(): Promise<void> {
  state?.db?.close();
  await state?.store?.close();
  state = undefined;
}

const eventsyncBench = { makeFixture, prepare, run, check, finish };

declare global {
  interface Window {
    eventsyncBench: typeof eventsyncBench;
  }
}

window.eventsyncBench = eventsyncBench;
