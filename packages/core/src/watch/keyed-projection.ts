import { resolveBufferOptions, type BufferOptions, type SubscriptionStats } from '../bus/backpressure.js';
import { Mailbox } from '../bus/mailbox.js';
import type { Event } from '../event/event.js';
import { SyncError } from '../errors/sync-error.js';
import { abortReason, type SignalOptions } from '../internal/abort.js';
import { Projection } from '../projection/projection.js';
import type { LocalEventStore } from '../store/local-event-store.js';
import type { SyncManager } from '../sync/sync-manager.js';
import { CHANGE_TYPES, type Change, type ChangeType } from './change.js';
import { jsonEquals } from './json-equals.js';
import { KeyedState } from './keyed-state.js';

/** A reducer of a keyed projection: the state after `event`, made with `state.set` / `state.delete`. */
export type KeyedReducer<V> = (state: KeyedState<V>, event: Event) => KeyedState<V>;

/** Options of {@link KeyedProjection}. */
export interface KeyedProjectionOptions<V> {
  /** The local log the state is folded from. Required. */
  readonly store: LocalEventStore;
  /** A reducer per event type; events of other types change nothing. Required. */
  readonly reducers: { readonly [type: string]: KeyedReducer<V> };
  /**
   * A sync manager whose changes (appends, pulls, acknowledgements, rejections, rebases) refresh the
   * projection by themselves. Without one, call {@link KeyedProjection.refresh}.
   */
  readonly manager?: SyncManager;
  /**
   * Whether two values of an entry are the same: an entry whose new value equals the old one is not
   * reported. One that throws counts as "changed".
   *
   * @defaultValue `jsonEquals` (structural, for JSON values)
   */
  readonly equals?: (a: V, b: V) => boolean;
  /**
   * The page size of folding the store.
   *
   * @defaultValue 1000
   */
  readonly pageSize?: number;
  /**
   * Told about failures of watch callbacks and of `equals`, which never escape.
   *
   * @defaultValue ignore them
   */
  readonly onError?: (error: unknown) => void;
}

/** Options of {@link KeyedProjection.watch} and {@link KeyedProjection.onChange}. */
export interface WatchOptions extends BufferOptions {
  /** Only entries of this kind. @defaultValue every kind */
  readonly kind?: string;
  /** Only entries with this key (of `kind`, or of any kind without one). @defaultValue every key */
  readonly key?: string;
  /** Only these change types. @defaultValue all: `create`, `update`, `delete` */
  readonly types?: readonly ChangeType[];
  /**
   * Whether to start with the current state: one `create` per entry that matches, then every change
   * after that state, with nothing missed and nothing twice in between. The replay is read lazily and
   * never counts against `bufferSize` nor is dropped.
   *
   * @defaultValue false
   */
  readonly replay?: boolean;
  /**
   * What happens when the buffer is full; see `Backpressure`. `drop_newest` and `drop_oldest` lose
   * changes. `block` loses nothing and never holds the projection up: a watcher that falls behind
   * stops taking changes, and once it has read half its buffer, catches up with the net changes since
   * (intermediate values of an entry it missed are skipped; the entries it ends with are exact).
   *
   * @defaultValue `'drop_newest'`
   */
  readonly backpressure?: BufferOptions['backpressure'];
  /** Cancels the watch when it aborts. */
  readonly signal?: AbortSignal;
}

/** The counts of a watcher. */
export type WatcherStats = Omit<SubscriptionStats, 'waiting'>;

/**
 * A watch of a keyed projection: an async iterable of {@link Change}s (`for await`, where `break`
 * cancels), in commit order.
 */
export interface Watcher<V> extends AsyncIterable<Change<V>> {
  /** Whether it was cancelled (or the projection closed). */
  readonly closed: boolean;
  /** Its counts: delivered, dropped (by reason), queued. */
  readonly stats: WatcherStats;
  /** The next change; `{ done: true }` once cancelled. */
  next(): Promise<IteratorResult<Change<V>, undefined>>;
  /** Stops the watch: buffered changes are dropped, a pending `next()` ends. Idempotent. */
  cancel(): void;
}

interface WatchHost<V> {
  current(): KeyedState<V>;
  changes(from: KeyedState<V>, to: KeyedState<V>): Change<V>[];
  remove(watcher: WatcherHandle<V>): void;
  onError(error: unknown): void;
}

/**
 * A projection whose state is a {@link KeyedState} (values by kind and key), with watches: `create`,
 * `update` and `delete` notifications per entry, computed by diffing each committed state against the
 * one before. Nothing is reported for an entry whose value did not change (`equals`); notifications
 * come only after the change is committed to the store, for local appends and pulled events alike
 * (with a `manager`), and never for a state that was replaced before it was committed.
 *
 * @example
 * ```ts
 * const todos = new KeyedProjection<{ title: string }>({
 *   store,
 *   manager,
 *   reducers: {
 *     'todo.added': (state, event) => state.set('todos', event.aggregateId, event.data as { title: string }),
 *     'todo.deleted': (state, event) => state.delete('todos', event.aggregateId),
 *   },
 * });
 * const stop = todos.onChange((change) => console.log(change.type, change.key), { kind: 'todos' });
 * for await (const change of todos.watch({ kind: 'todos', replay: true })) render(change);
 * ```
 */
export class KeyedProjection<V> {
  /** Settles once the first fold is done; rejects if it failed. */
  readonly ready: Promise<void>;
  readonly #projection: Projection<KeyedState<V>>;
  readonly #equals: (a: V, b: V) => boolean;
  readonly #onError: (error: unknown) => void;
  readonly #watchers = new Set<WatcherHandle<V>>();
  readonly #host: WatchHost<V>;
  #committed: KeyedState<V> = KeyedState.empty();
  #closed = false;

  /** @throws SyncError `invalid_input` for missing reducers or a bad `equals`. */
  constructor(options: KeyedProjectionOptions<V>) {
    const { store, manager, reducers, equals = jsonEquals, pageSize, onError } = options;
    if (typeof reducers !== 'object' || reducers === null) {
      throw new SyncError('invalid_input', 'A keyed projection needs `reducers` (an object)', {
        details: { field: 'reducers' },
      });
    }
    if (typeof equals !== 'function') {
      throw new SyncError('invalid_input', 'equals must be a function', { details: { field: 'equals' } });
    }
    this.#equals = equals;
    this.#onError = (error) => {
      try {
        onError?.(error);
      } catch {
        // Reporting must not break the projection either.
      }
    };
    this.#host = {
      current: () => this.#committed,
      changes: (from, to) => this.#changes(from, to),
      remove: (watcher) => this.#watchers.delete(watcher),
      onError: this.#onError,
    };
    this.#projection = new Projection<KeyedState<V>>({
      store,
      ...(manager ? { manager } : {}),
      ...(pageSize === undefined ? {} : { pageSize }),
      definition: { initial: () => KeyedState.empty<V>(), reducers },
    });
    this.#projection.subscribe((state) => this.#commit(state));
    this.ready = this.#projection.ready;
  }

  /** The committed state: what the last notification reflects. */
  get state(): KeyedState<V> {
    return this.#committed;
  }

  /** The value of one entry in the committed state. */
  get(kind: string, key: string): V | undefined {
    return this.#committed.get(kind, key);
  }

  /** Folds what changed in the store since the last refresh, then notifies the watches. */
  refresh(options: SignalOptions = {}): Promise<void> {
    return this.#projection.refresh(options);
  }

  /**
   * Watches the entries that match `options` (every entry by default) as an async iterable.
   *
   * @throws SyncError `invalid_input` for bad options, `closed` once the projection is closed; the
   *   signal's reason if it has aborted.
   *
   * @example
   * ```ts
   * const watcher = todos.watch({ kind: 'todos', types: ['delete'], bufferSize: 16 });
   * for await (const change of watcher) if (change.type === 'delete') undo.offer(change.previous);
   * ```
   */
  watch(options: WatchOptions = {}): Watcher<V> {
    return this.#add(options, undefined);
  }

  /**
   * Calls `listener` with every change that matches `options`, in order, one at a time (an async
   * listener holds the next change back until it settles). With `replay`, the current entries come
   * first, starting in a microtask (after this returns).
   *
   * @returns the function that stops it. Idempotent.
   * @throws as {@link KeyedProjection.watch}.
   */
  onChange(listener: (change: Change<V>) => unknown, options: WatchOptions = {}): () => void {
    if (typeof listener !== 'function') {
      throw new SyncError('invalid_input', 'onChange needs a listener function', { details: { field: 'listener' } });
    }
    const watcher = this.#add(options, listener);
    return () => watcher.cancel();
  }

  /** Stops following the store and the manager, and ends every watch. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#projection.close();
    for (const watcher of [...this.#watchers]) watcher.end('closed');
  }

  #add(options: WatchOptions, listener: ((change: Change<V>) => unknown) | undefined): WatcherHandle<V> {
    if (this.#closed) throw new SyncError('closed', 'The projection is closed');
    const watcher = new WatcherHandle<V>(this.#host, options ?? {}, listener);
    this.#watchers.add(watcher);
    return watcher;
  }

  #commit(next: KeyedState<V>): void {
    const previous = this.#committed;
    this.#committed = next;
    if (this.#watchers.size === 0) return;
    const changes = this.#changes(previous, next);
    if (changes.length === 0) return;
    for (const watcher of [...this.#watchers]) watcher.offer(previous, changes);
  }

  #changes(from: KeyedState<V>, to: KeyedState<V>): Change<V>[] {
    const changes: Change<V>[] = [];
    from.diff(to, (kind, key, before, after) => {
      if (before === undefined)
        changes.push(Object.freeze({ type: 'create', kind, key, value: (after as { value: V }).value }));
      else if (after === undefined) changes.push(Object.freeze({ type: 'delete', kind, key, previous: before.value }));
      else if (!this.#same(before.value, after.value)) {
        changes.push(Object.freeze({ type: 'update', kind, key, value: after.value, previous: before.value }));
      }
    });
    return changes;
  }

  #same(a: V, b: V): boolean {
    try {
      return this.#equals(a, b);
    } catch (error) {
      this.#onError(error);
      return false;
    }
  }
}

class WatcherHandle<V> implements Watcher<V> {
  readonly #host: WatchHost<V>;
  readonly #mailbox: Mailbox<Change<V>>;
  readonly #kind: string | undefined;
  readonly #key: string | undefined;
  readonly #types: ReadonlySet<ChangeType> | undefined;
  readonly #resumeAt: number;
  #stopSignal: (() => void) | undefined;
  /** Under `block`, once behind: the state up to which changes were offered; later ones wait for room. */
  #behind: KeyedState<V> | undefined;

  constructor(host: WatchHost<V>, options: WatchOptions, listener: ((change: Change<V>) => unknown) | undefined) {
    const buffer = resolveBufferOptions(options);
    const { kind, key, types, replay = false, signal } = options;
    for (const [field, value] of [
      ['kind', kind],
      ['key', key],
    ] as const) {
      if (value !== undefined && typeof value !== 'string') {
        throw new SyncError('invalid_input', `${field} must be a string`, { details: { field } });
      }
    }
    if (types !== undefined && !(Array.isArray(types) && types.every((type: unknown) => isChangeType(type)))) {
      throw new SyncError('invalid_input', `types must be a list of ${CHANGE_TYPES.join(', ')}`, {
        details: { field: 'types' },
      });
    }
    if (signal?.aborted) throw abortReason(signal);
    this.#host = host;
    this.#kind = kind;
    this.#key = key;
    this.#types = types === undefined ? undefined : new Set(types);
    this.#resumeAt = buffer.bufferSize >> 1;
    this.#mailbox = new Mailbox<Change<V>>({
      ...buffer,
      handler: listener,
      prelude: replay ? this.#replay(host.current()) : undefined,
      onError: (error) => host.onError(error),
      onTake: buffer.backpressure === 'block' ? (queued) => this.#onTake(queued) : undefined,
    });
    if (signal) {
      const onAbort = (): void => this.cancel();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#stopSignal = () => signal.removeEventListener('abort', onAbort);
    }
  }

  get closed(): boolean {
    return this.#mailbox.ended;
  }

  get stats(): WatcherStats {
    const { waiting: _waiting, ...counts } = this.#mailbox.counts;
    return counts;
  }

  next(): Promise<IteratorResult<Change<V>, undefined>> {
    return this.#mailbox.next();
  }

  cancel(): void {
    this.end('unsubscribed');
  }

  end(reason: 'unsubscribed' | 'closed'): void {
    if (this.#mailbox.ended) return;
    this.#behind = undefined;
    this.#mailbox.end(reason);
    this.#stopSignal?.();
    this.#host.remove(this);
  }

  /** Offers the matching ones of `changes` (which lead from `previous` to the committed state). */
  offer(previous: KeyedState<V>, changes: readonly Change<V>[]): void {
    if (this.#behind !== undefined || this.#mailbox.ended) return;
    for (let i = 0; i < changes.length; i++) {
      const change = changes[i] as Change<V>;
      if (!this.#matches(change)) continue;
      if (this.#mailbox.offer(change) === 'full') {
        this.#behind = applyChanges(previous, changes, i);
        return;
      }
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Change<V>, undefined> {
    return {
      next: () => this.next(),
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  #onTake(queued: number): void {
    const behind = this.#behind;
    if (behind === undefined || queued > this.#resumeAt) return;
    this.#behind = undefined;
    this.offer(behind, this.#host.changes(behind, this.#host.current()));
  }

  #matches(change: Change<V>): boolean {
    return (
      (this.#kind === undefined || change.kind === this.#kind) &&
      (this.#key === undefined || change.key === this.#key) &&
      (this.#types === undefined || this.#types.has(change.type))
    );
  }

  *#replay(snapshot: KeyedState<V>): Generator<Change<V>> {
    if (this.#types !== undefined && !this.#types.has('create')) return;
    if (this.#kind !== undefined && this.#key !== undefined) {
      if (snapshot.has(this.#kind, this.#key)) {
        yield Object.freeze({
          type: 'create',
          kind: this.#kind,
          key: this.#key,
          value: snapshot.get(this.#kind, this.#key) as V,
        });
      }
      return;
    }
    for (const { kind, key, value } of snapshot.entries(this.#kind)) {
      if (this.#key === undefined || key === this.#key) yield Object.freeze({ type: 'create', kind, key, value });
    }
  }
}

function isChangeType(value: unknown): value is ChangeType {
  return CHANGE_TYPES.includes(value as ChangeType);
}

/** `state` with the first `count` of `changes` applied. */
function applyChanges<V>(state: KeyedState<V>, changes: readonly Change<V>[], count: number): KeyedState<V> {
  let next = state;
  for (let i = 0; i < count; i++) {
    const change = changes[i] as Change<V>;
    next =
      change.type === 'delete' ? next.delete(change.kind, change.key) : next.set(change.kind, change.key, change.value);
  }
  return next;
}
