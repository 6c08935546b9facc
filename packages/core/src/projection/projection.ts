import type { Event } from '../event/event.js';
import { SyncError } from '../errors/sync-error.js';
import { throwIfAborted, type SignalOptions } from '../internal/abort.js';
import type { LocalEventStore } from '../store/local-event-store.js';
import type { SyncManager } from '../sync/sync-manager.js';
import { CursorVersion } from '../version/cursor-version.js';

/** A reducer: the state after `event`. It must not change `state`, only return a new one. */
export type Reducer<S> = (state: S, event: Event) => S;

/** What a projection is: where it starts, and how each event type changes it. */
export interface ProjectionDefinition<S> {
  /** The state before any event; called for each fresh fold. */
  readonly initial: () => S;
  /** A reducer per event type; events of other types leave the state as it is. */
  readonly reducers: { readonly [type: string]: Reducer<S> };
}

/** Options of {@link Projection}. */
export interface ProjectionOptions<S> {
  /** The local log the state is folded from. Required. */
  readonly store: LocalEventStore;
  /** The definition. Required. */
  readonly definition: ProjectionDefinition<S>;
  /**
   * A sync manager whose changes (appends, pulled pages, acknowledgements, rejections, rebases)
   * refresh the projection by themselves. Without one, call {@link Projection.refresh}.
   */
  readonly manager?: SyncManager;
  /**
   * The page size of the initial fold and of catching up after pulls.
   *
   * @defaultValue 1000
   */
  readonly pageSize?: number;
}

/**
 * State folded from a local log: the confirmed log in server order, then this client's pending events
 * on top, so every replica that has synced shows the same state, and local edits show at once.
 *
 * The confirmed part is folded once and then only extended as the cursor moves; the part on top (the
 * pending events, and own events confirmed beyond the cursor) is folded again on every change, so a
 * rebase or a rejection is reflected exactly. Reducers must be pure: the confirmed state is reused.
 *
 * @example
 * ```ts
 * const todos = new Projection({
 *   store,
 *   manager,
 *   definition: {
 *     initial: () => new Map<string, string>(),
 *     reducers: {
 *       'todo.added': (state, event) => new Map(state).set(event.aggregateId, (event.data as { title: string }).title),
 *       'todo.deleted': (state, event) => { const next = new Map(state); next.delete(event.aggregateId); return next; },
 *     },
 *   },
 * });
 * await todos.ready;
 * todos.subscribe((state) => render(state));
 * ```
 */
export class Projection<S> {
  /** Settles once the first fold is done; rejects if it failed. */
  readonly ready: Promise<void>;
  readonly #store: LocalEventStore;
  readonly #definition: ProjectionDefinition<S>;
  readonly #pageSize: number;
  readonly #listeners = new Set<(state: S) => void>();
  readonly #stops: (() => void)[] = [];
  #confirmed: S;
  #folded: CursorVersion = CursorVersion.ZERO;
  #state: S;
  #refreshing: Promise<void> | undefined;
  #dirty = false;
  #closed = false;

  /** @throws SyncError `invalid_input` for a definition without `initial` or `reducers`. */
  constructor(options: ProjectionOptions<S>) {
    const { store, definition, manager } = options;
    if (typeof definition?.initial !== 'function' || typeof definition.reducers !== 'object' || !definition.reducers) {
      throw new SyncError('invalid_input', 'A projection needs `initial` (a function) and `reducers` (an object)', {
        details: { field: 'definition' },
      });
    }
    this.#store = store;
    this.#definition = definition;
    this.#pageSize = options.pageSize ?? 1000;
    this.#confirmed = definition.initial();
    this.#state = this.#confirmed;
    if (manager) {
      const refresh = (): void => {
        this.refresh().catch(() => {});
      };
      for (const type of [
        'event.appended',
        'sync.pulled',
        'event.acknowledged',
        'event.rejected',
        'outbox.rebased',
      ] as const) {
        this.#stops.push(manager.on(type, refresh));
      }
    }
    this.ready = this.refresh();
  }

  /** The current state (the initial state until {@link Projection.ready} settles). */
  get state(): S {
    return this.#state;
  }

  /**
   * Calls `listener` with the new state after every refresh that changed it (by reference).
   *
   * @returns the function that stops it.
   */
  subscribe(listener: (state: S) => void): () => void {
    const entry = (state: S): void => listener(state);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /**
   * Folds what changed in the store since the last refresh. Calls made while one runs are coalesced
   * into one more run after it.
   */
  refresh(options: SignalOptions = {}): Promise<void> {
    if (this.#closed) return Promise.reject(new SyncError('closed', 'The projection is closed'));
    throwIfAborted(options.signal);
    if (this.#refreshing) {
      this.#dirty = true;
      return this.#refreshing;
    }
    const run = (async () => {
      try {
        do {
          this.#dirty = false;
          await this.#fold(options.signal);
        } while (this.#dirty && !this.#closed);
      } finally {
        this.#refreshing = undefined;
      }
    })();
    this.#refreshing = run;
    return run;
  }

  /** Stops following the manager and drops every listener. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const stop of this.#stops.splice(0)) stop();
    this.#listeners.clear();
  }

  /** Folds `events` onto `state` with the definition's reducers. */
  fold(state: S, events: Iterable<Event>): S {
    let next = state;
    for (const event of events) {
      const reducer = Object.hasOwn(this.#definition.reducers, event.type)
        ? this.#definition.reducers[event.type]
        : undefined;
      if (reducer) next = reducer(next, event);
    }
    return next;
  }

  async #fold(signal: AbortSignal | undefined): Promise<void> {
    const cursor = await this.#store.cursor({ signal });
    // The confirmed part: extended in server order up to the cursor, never folded twice.
    while (this.#folded.compare(cursor) < 0) {
      const page = await this.#store.load(this.#folded, { limit: this.#pageSize, signal });
      const upToCursor = page.filter((item) => item.version.compare(cursor) <= 0);
      this.#confirmed = this.fold(
        this.#confirmed,
        upToCursor.map((item) => item.event),
      );
      const last = upToCursor.at(-1);
      this.#folded = upToCursor.length < page.length || !last ? cursor : last.version;
    }
    // On top: own events the server confirmed beyond the cursor (in server order), then the outbox.
    const beyond = await this.#store.load(cursor, { signal });
    const pending = await this.#store.pending({ signal });
    const state = this.fold(
      this.fold(
        this.#confirmed,
        beyond.map((item) => item.event),
      ),
      pending.map((entry) => entry.event),
    );
    if (this.#closed || Object.is(state, this.#state)) return;
    this.#state = state;
    for (const listener of [...this.#listeners]) {
      try {
        listener(state);
      } catch {
        // A listener's failure is its own; the projection is up to date either way.
      }
    }
  }
}
