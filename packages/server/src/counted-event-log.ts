import type {
  AppendNotice,
  AppendOptions,
  AppendResult,
  CursorVersion,
  Event,
  EventPage,
  JsonEventPage,
  ReadOptions,
  ServerEventLog,
  SignalOptions,
} from '@eventsync/core';

/** Counts of one kind of call to the server log. */
export interface StoreCallStats {
  /** Calls made. */
  readonly calls: number;
  /** Calls that failed. */
  readonly failures: number;
}

/** Counts of calls to the server log made by a sync handler and its broker. */
export interface StoreStats {
  /** Appends (pushes); `events` are the events stored (accepted), not duplicates or refusals. */
  readonly append: StoreCallStats & {
    /** Events stored: the results `accepted`, not `duplicate`, `conflict` or `rejected`. */
    readonly events: number;
  };
  /** Reads (pulls, and the broker's reads for stream subscribers); `events` are the events read. */
  readonly read: StoreCallStats & {
    /** Events in the pages that reads returned (failed reads add none). */
    readonly events: number;
  };
  /** Latest-version lookups (`/v1/version`, cursor checks, streams starting at the head). */
  readonly latestVersion: StoreCallStats;
}

/**
 * A {@link ServerEventLog} that counts the calls made through it, then hands them to `store` (looked
 * up on each call, so a store whose methods are replaced later is still the one called).
 */
export class CountedEventLog implements ServerEventLog {
  readonly #store: ServerEventLog;
  readonly #append = { calls: 0, failures: 0, events: 0 };
  readonly #read = { calls: 0, failures: 0, events: 0 };
  readonly #latestVersion = { calls: 0, failures: 0 };

  constructor(store: ServerEventLog) {
    this.#store = store;
  }

  /** The counts so far. */
  get stats(): StoreStats {
    return { append: { ...this.#append }, read: { ...this.#read }, latestVersion: { ...this.#latestVersion } };
  }

  async append(tenant: string, events: readonly Event[], options?: AppendOptions): Promise<AppendResult[]> {
    const results = await counted(this.#append, () => this.#store.append(tenant, events, options));
    for (const result of results) if (result.status === 'accepted') this.#append.events++;
    return results;
  }

  async read(tenant: string, options?: ReadOptions): Promise<EventPage> {
    const page = await counted(this.#read, () => this.#store.read(tenant, options));
    this.#read.events += page.events.length;
    return page;
  }

  /** Whether the store offers `readJson` (looked up now, like every call). */
  get readsJson(): boolean {
    return typeof this.#store.readJson === 'function';
  }

  /** The store's `readJson`, counted as a read; only when {@link CountedEventLog.readsJson}. */
  async readJson(tenant: string, options?: ReadOptions): Promise<JsonEventPage> {
    const page = await counted(this.#read, () => {
      const store = this.#store;
      if (typeof store.readJson !== 'function') throw new TypeError('The store has no readJson');
      return store.readJson(tenant, options);
    });
    this.#read.events += page.rows.length;
    return page;
  }

  latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion> {
    return counted(this.#latestVersion, () => this.#store.latestVersion(tenant, options));
  }

  subscribe(listener: (notice: AppendNotice) => void): () => void {
    return this.#store.subscribe(listener);
  }

  close(): Promise<void> {
    return this.#store.close();
  }
}

async function counted<T>(stats: { calls: number; failures: number }, call: () => Promise<T>): Promise<T> {
  stats.calls++;
  try {
    return await call();
  } catch (error) {
    stats.failures++;
    throw error;
  }
}
