import { SyncError, type SignalOptions } from '@eventsync/core';
import { abortReason, throwIfAborted } from './internal/abort.js';

/** Options of {@link TabLeader}. */
export interface TabLeaderOptions {
  /**
   * What the tabs compete for: use the database's name, so each database has one leader.
   *
   * @defaultValue `'eventsync'`
   */
  readonly name?: string;
  /**
   * The Web Locks API; `null` to use the lease in IndexedDB instead (the fallback where Web Locks are
   * missing: old browsers, insecure origins).
   *
   * @defaultValue `navigator.locks`, or `null` where it is missing
   */
  readonly locks?: LockManager | null;
  /**
   * The IndexedDB of the fallback's lease (a small database named `eventsync-leader:<name>`).
   *
   * @defaultValue `globalThis.indexedDB`
   */
  readonly indexedDB?: IDBFactory;
  /**
   * The fallback's lease, in milliseconds: a leader that stops renewing it (closed, crashed, frozen) is
   * replaced this long after its last renewal at most. It is renewed every third of it.
   *
   * @defaultValue 3000
   */
  readonly leaseMs?: number;
  /**
   * Where the page's lifecycle events come from: a frozen tab (`freeze`) resigns and competes again
   * when it comes back (`resume`); `null` ignores them.
   *
   * @defaultValue `globalThis.document`, or `null` in workers
   */
  readonly lifecycle?: EventTarget | null;
  /**
   * The wall clock of the fallback's lease, in milliseconds since the epoch (all tabs must share it).
   *
   * @defaultValue `Date.now`
   */
  readonly now?: () => number;
}

/** The defaults of {@link TabLeaderOptions}. */
export const DEFAULT_TAB_LEADER_OPTIONS = {
  /** The tabs compete for `eventsync`; see {@link TabLeaderOptions.name}. */
  name: 'eventsync',
  /** The fallback's lease lasts 3 s; see {@link TabLeaderOptions.leaseMs}. */
  leaseMs: 3_000,
} as const satisfies TabLeaderOptions;

interface Lease {
  readonly holder: string;
  readonly expires: number;
}

/**
 * Elects one leader among the tabs (and workers) of an app: the one that runs sync, while the others
 * only append and read. With Web Locks, the leader holds an exclusive lock named after the database;
 * when its tab closes, crashes or is frozen, the lock passes to a waiting tab at once. Without Web
 * Locks, tabs share a lease in IndexedDB that the leader renews; another tab takes over when it
 * lapses.
 *
 * @example
 * ```ts
 * const leader = new TabLeader({ name: 'todos' });
 * leader.subscribe((leading) => (leading ? manager.start() : manager.stop()));
 * leader.start();
 * ```
 */
export class TabLeader {
  readonly #name: string;
  readonly #locks: LockManager | null;
  readonly #factory: IDBFactory | undefined;
  readonly #leaseMs: number;
  readonly #lifecycle: EventTarget | null;
  readonly #now: () => number;
  readonly #listeners = new Set<(leading: boolean) => void>();
  readonly #id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  #leading = false;
  #started = false;
  #closed = false;
  #frozen = false;
  // Web Locks: how to give the lock back, and how to call off a request not yet granted.
  #release: (() => void) | undefined;
  #request: AbortController | undefined;
  // The lease: the renewal timer, the lease's database, when our lease runs out.
  #timer: ReturnType<typeof setTimeout> | undefined;
  #db: Promise<IDBDatabase> | undefined;
  #expires = 0;

  /** @throws SyncError `invalid_input` for a bad option; `storage` when neither Web Locks nor IndexedDB exist. */
  constructor(options: TabLeaderOptions = {}) {
    this.#name = options.name ?? DEFAULT_TAB_LEADER_OPTIONS.name;
    if (typeof this.#name !== 'string' || this.#name === '') {
      throw new SyncError('invalid_input', 'name must be a non-empty string', { details: { field: 'name' } });
    }
    const navigatorLocks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks;
    this.#locks = options.locks === undefined ? (navigatorLocks ?? null) : options.locks;
    this.#factory = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
    this.#leaseMs = options.leaseMs ?? DEFAULT_TAB_LEADER_OPTIONS.leaseMs;
    if (!Number.isFinite(this.#leaseMs) || this.#leaseMs < 30) {
      throw new SyncError('invalid_input', `leaseMs must be a number of at least 30, got ${String(this.#leaseMs)}`, {
        details: { field: 'leaseMs' },
      });
    }
    if (!this.#locks && !this.#factory) {
      throw new SyncError('storage', 'TabLeader needs Web Locks or IndexedDB, and neither is here');
    }
    this.#lifecycle =
      options.lifecycle === undefined
        ? ((globalThis as { document?: EventTarget }).document ?? null)
        : options.lifecycle;
    this.#now = options.now ?? Date.now;
  }

  /** How leadership is decided: Web Locks, or the lease in IndexedDB. */
  get mode(): 'locks' | 'lease' {
    return this.#locks ? 'locks' : 'lease';
  }

  /** Whether this tab leads now. */
  get isLeader(): boolean {
    // A lease that ran out while this tab was frozen is no longer ours, whatever the timer thinks.
    if (this.#leading && !this.#locks && this.#now() >= this.#expires) return false;
    return this.#leading;
  }

  /**
   * Tells `listener` whenever this tab gains or loses the lead (not of the current state: read
   * {@link TabLeader.isLeader}). Returns the function that stops it.
   */
  subscribe(listener: (leading: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts competing for the lead. Idempotent. */
  start(): void {
    if (this.#closed) throw new SyncError('closed', 'The tab leader is closed');
    if (this.#started) return;
    this.#started = true;
    this.#lifecycle?.addEventListener('freeze', this.#onFreeze);
    this.#lifecycle?.addEventListener('resume', this.#onResume);
    this.#compete();
  }

  /** Resolves once this tab leads (started or not: it starts). */
  whenLeader(options: SignalOptions = {}): Promise<void> {
    const { signal } = options;
    throwIfAborted(signal);
    if (this.isLeader) return Promise.resolve();
    this.start();
    return new Promise<void>((resolve, reject) => {
      const stop = this.subscribe((leading) => {
        if (!leading) return;
        stop();
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      const onAbort = (): void => {
        stop();
        reject(abortReason(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Gives up the lead (another tab takes it) and stops competing. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#lifecycle?.removeEventListener('freeze', this.#onFreeze);
    this.#lifecycle?.removeEventListener('resume', this.#onResume);
    await this.#resign();
    const db = this.#db;
    this.#db = undefined;
    if (db) (await db.catch(() => undefined))?.close();
    this.#listeners.clear();
  }

  #onFreeze = (): void => {
    this.#frozen = true;
    void this.#resign();
  };

  #onResume = (): void => {
    this.#frozen = false;
    if (this.#started && !this.#closed) this.#compete();
  };

  #compete(): void {
    if (this.#frozen || this.#closed) return;
    if (this.#locks) this.#requestLock(this.#locks);
    else void this.#renewLease();
  }

  #set(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    for (const listener of [...this.#listeners]) {
      try {
        listener(leading);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  async #resign(): Promise<void> {
    this.#request?.abort();
    this.#request = undefined;
    this.#release?.();
    this.#release = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const held = this.#leading && !this.#locks;
    this.#set(false);
    if (held) await this.#dropLease().catch(() => {});
  }

  // ---- Web Locks ---------------------------------------------------------------------------------

  #requestLock(locks: LockManager): void {
    if (this.#request || this.#release) return;
    const request = new AbortController();
    this.#request = request;
    locks
      .request(`eventsync-leader:${this.#name}`, { mode: 'exclusive', signal: request.signal }, () => {
        if (request.signal.aborted) return undefined;
        this.#request = undefined;
        // Held until `#resign` resolves it; the lock goes with the tab when the tab goes.
        return new Promise<void>((release) => {
          this.#release = release;
          this.#set(true);
        });
      })
      .catch(() => {
        // Called off (AbortError) before it was granted: nothing was held.
        if (this.#request === request) this.#request = undefined;
      });
  }

  // ---- the lease in IndexedDB --------------------------------------------------------------------

  #openLeaseDb(): Promise<IDBDatabase> {
    this.#db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = this.#factory!.open(`eventsync-leader:${this.#name}`, 1);
      request.onupgradeneeded = () => request.result.createObjectStore('lease');
      request.onsuccess = () => {
        const db = request.result;
        db.onversionchange = () => db.close();
        resolve(db);
      };
      request.onerror = () => reject(request.error ?? new Error('cannot open the lease database'));
      request.onblocked = () => reject(new Error('the lease database is blocked'));
    });
    return this.#db;
  }

  async #renewLease(): Promise<void> {
    if (this.#closed || this.#frozen) return;
    let leading = false;
    try {
      const db = await this.#openLeaseDb();
      leading = await new Promise<boolean>((resolve, reject) => {
        const tx = db.transaction('lease', 'readwrite');
        const store = tx.objectStore('lease');
        const read = store.get('leader');
        let won = false;
        read.onsuccess = () => {
          const lease = read.result as Lease | undefined;
          const now = this.#now();
          if (!lease || lease.holder === this.#id || lease.expires <= now) {
            won = true;
            this.#expires = now + this.#leaseMs;
            store.put({ holder: this.#id, expires: this.#expires } satisfies Lease, 'leader');
          }
        };
        tx.oncomplete = () => resolve(won);
        tx.onerror = () => reject(tx.error ?? new Error('the lease transaction failed'));
        tx.onabort = () => reject(tx.error ?? new Error('the lease transaction was aborted'));
      });
    } catch {
      // The lease could not be read or written this time: not the leader until a renewal succeeds.
      leading = false;
    }
    if (this.#closed || this.#frozen) return;
    this.#set(leading);
    this.#timer = setTimeout(() => void this.#renewLease(), Math.max(10, Math.floor(this.#leaseMs / 3)));
    (this.#timer as { unref?: () => void }).unref?.();
  }

  async #dropLease(): Promise<void> {
    const db = await this.#openLeaseDb();
    await new Promise<void>((resolve, reject) => {
      const tx = db.transaction('lease', 'readwrite');
      const store = tx.objectStore('lease');
      const read = store.get('leader');
      read.onsuccess = () => {
        if ((read.result as Lease | undefined)?.holder === this.#id) store.delete('leader');
      };
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error ?? new Error('the lease transaction failed'));
    });
  }
}
