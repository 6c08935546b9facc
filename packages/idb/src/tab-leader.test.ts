import { expectSyncError } from '@eventsync/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../test/support/eventually.js';
import { freshIndexedDb } from '../test/support/fake-indexeddb.js';
import { FakeLockManager } from '../test/support/fake-locks.js';
import { TabLeader, type TabLeaderOptions } from './tab-leader.js';

/** Two tabs' leaders over one election, in the mode `options` picks. */
function tabs(options: (tab: number) => TabLeaderOptions): [TabLeader, TabLeader] {
  return [new TabLeader(options(0)), new TabLeader(options(1))];
}

const modes: [string, () => (tab: number) => TabLeaderOptions][] = [
  [
    'with Web Locks',
    () => {
      const locks = new FakeLockManager().asLockManager();
      return () => ({ name: 'todos', locks, lifecycle: new EventTarget() });
    },
  ],
  [
    'with the lease in IndexedDB',
    () => {
      const indexedDB = freshIndexedDb();
      return () => ({ name: 'todos', locks: null, indexedDB, leaseMs: 60, lifecycle: new EventTarget() });
    },
  ],
];

describe.each(modes)('TabLeader %s', (_mode, setup) => {
  const open: TabLeader[] = [];

  afterEach(async () => {
    await Promise.all(open.splice(0).map((leader) => leader.close()));
  });

  function pair(): [TabLeader, TabLeader] {
    const leaders = tabs(setup());
    open.push(...leaders);
    return leaders;
  }

  it('elects exactly one of the tabs', async () => {
    const [a, b] = pair();
    a.start();
    b.start();
    await eventually(() => a.isLeader || b.isLeader, 'a leader');
    expect(a.isLeader && b.isLeader).toBe(false);
  });

  it('passes the lead to another tab when the leader closes', async () => {
    const [a, b] = pair();
    await a.whenLeader();
    b.start();
    expect(b.isLeader).toBe(false);
    const changes: boolean[] = [];
    b.subscribe((leading) => changes.push(leading));
    await a.close();
    await b.whenLeader();
    expect(changes).toEqual([true]);
    expect(a.isLeader).toBe(false);
  });

  it('resigns when its tab is frozen, and competes again when it resumes', async () => {
    const options = setup();
    const lifecycle = new EventTarget();
    const a = new TabLeader({ ...options(0), lifecycle });
    const b = new TabLeader(options(1));
    open.push(a, b);
    await a.whenLeader();
    b.start();
    lifecycle.dispatchEvent(new Event('freeze'));
    expect(a.isLeader).toBe(false);
    await b.whenLeader();
    lifecycle.dispatchEvent(new Event('resume'));
    await b.close();
    await a.whenLeader();
  });

  it('stops waiting for the lead when the signal fires', async () => {
    const [a, b] = pair();
    await a.whenLeader();
    const reason = new Error('stop');
    const controller = new AbortController();
    const waiting = b.whenLeader({ signal: controller.signal });
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
  });

  it('refuses to start once closed', async () => {
    const [a] = pair();
    await a.close();
    await expectSyncError(() => a.start(), 'closed');
  });
});

describe('TabLeader options', () => {
  it('uses Web Locks where they exist and says which mode it is in', () => {
    expect(new TabLeader({ locks: new FakeLockManager().asLockManager() }).mode).toBe('locks');
    expect(new TabLeader({ locks: null, indexedDB: freshIndexedDb() }).mode).toBe('lease');
  });

  it('refuses impossible options', async () => {
    await expectSyncError(() => new TabLeader({ name: '' }), 'invalid_input');
    await expectSyncError(
      () => new TabLeader({ locks: null, indexedDB: freshIndexedDb(), leaseMs: 5 }),
      'invalid_input',
    );
  });

  it('takes over a lease its holder stopped renewing (a crashed tab), once it runs out', async () => {
    const indexedDB = freshIndexedDb();
    let now = 1_000_000;
    // The crashed tab's lease, written as its last act.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open('eventsync-leader:x', 1);
      request.onupgradeneeded = () => request.result.createObjectStore('lease');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    await new Promise<void>((resolve) => {
      const tx = db.transaction('lease', 'readwrite');
      tx.objectStore('lease').put({ holder: 'crashed-tab', expires: now + 60 }, 'leader');
      tx.oncomplete = () => resolve();
    });
    db.close();
    const b = new TabLeader({ name: 'x', locks: null, indexedDB, leaseMs: 60, now: () => now, lifecycle: null });
    try {
      b.start();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(b.isLeader).toBe(false);
      now += 61;
      await b.whenLeader();
    } finally {
      await b.close();
    }
  });

  it('does not count on a lease that ran out while its timer slept', async () => {
    let now = 1_000_000;
    const a = new TabLeader({ locks: null, indexedDB: freshIndexedDb(), leaseMs: 60, now: () => now, lifecycle: null });
    try {
      await a.whenLeader();
      now += 61;
      expect(a.isLeader).toBe(false);
    } finally {
      await a.close();
    }
  });
});
