import { PersistentMap } from './persistent-map.js';

/** One entry of a {@link KeyedState}. */
export interface KeyedEntry<V> {
  /** The entry's kind, e.g. `'todos'`. */
  readonly kind: string;
  /** The entry's key within its kind, e.g. `'todo-1'`. */
  readonly key: string;
  /** The entry's value, as it was set. */
  readonly value: V;
}

/**
 * The state of a `KeyedProjection`: values by kind (`'todos'`, `'users'`) and key (`'todo-1'`). It is
 * immutable: `set` and `delete` return a new state that shares almost everything with the old one
 * (O(log n) each, whatever the size), so reducers stay pure and cheap, and a watch can diff two states
 * in about the size of the change. Values are kept as given: treat them as read-only.
 *
 * @example
 * ```ts
 * let state = KeyedState.empty<{ title: string }>();
 * state = state.set('todos', 'todo-1', { title: 'Milk' });
 * state.get('todos', 'todo-1'); // { title: 'Milk' }
 * state = state.delete('todos', 'todo-1');
 * ```
 */
export class KeyedState<V> {
  static readonly #EMPTY = new KeyedState<never>(PersistentMap.empty(), 0);

  /** The state with no entries. */
  static empty<V>(): KeyedState<V> {
    return KeyedState.#EMPTY;
  }

  /** How many entries there are, over all kinds. */
  readonly size: number;
  readonly #kinds: PersistentMap<PersistentMap<V>>;

  private constructor(kinds: PersistentMap<PersistentMap<V>>, size: number) {
    this.#kinds = kinds;
    this.size = size;
  }

  /** The value of `kind`/`key`; `undefined` when there is no such entry. */
  get(kind: string, key: string): V | undefined {
    return this.#kinds.get(kind)?.get(key);
  }

  /** Whether there is an entry `kind`/`key`. */
  has(kind: string, key: string): boolean {
    return this.#kinds.get(kind)?.has(key) ?? false;
  }

  /** How many entries `kind` has. */
  count(kind: string): number {
    return this.#kinds.get(kind)?.size ?? 0;
  }

  /** This state with `kind`/`key` set to `value`; this same state when it already holds it (`Object.is`). */
  set(kind: string, key: string, value: V): KeyedState<V> {
    const keys = this.#kinds.get(kind) ?? PersistentMap.empty<V>();
    const next = keys.set(key, value);
    if (next === keys) return this;
    return new KeyedState(this.#kinds.set(kind, next), this.size + next.size - keys.size);
  }

  /** This state without `kind`/`key`; this same state when there is no such entry. */
  delete(kind: string, key: string): KeyedState<V> {
    const keys = this.#kinds.get(kind);
    const next = keys?.delete(key);
    if (keys === undefined || next === keys || next === undefined) return this;
    return new KeyedState(next.size === 0 ? this.#kinds.delete(kind) : this.#kinds.set(kind, next), this.size - 1);
  }

  /**
   * This state with `kind`/`key` set to what `update` returns for its current value (`undefined` when
   * absent); returning `undefined` deletes the entry.
   */
  update(kind: string, key: string, update: (current: V | undefined) => V | undefined): KeyedState<V> {
    const next = update(this.get(kind, key));
    return next === undefined ? this.delete(kind, key) : this.set(kind, key, next);
  }

  /** The kinds that have entries, in no particular order. */
  *kinds(): IterableIterator<string> {
    for (const [kind] of this.#kinds.entries()) yield kind;
  }

  /** The entries of `kind`, or of every kind, in no particular (but stable) order. */
  *entries(kind?: string): IterableIterator<KeyedEntry<V>> {
    if (kind !== undefined) {
      const keys = this.#kinds.get(kind);
      if (keys) for (const [key, value] of keys.entries()) yield { kind, key, value };
      return;
    }
    for (const [name, keys] of this.#kinds.entries()) {
      for (const [key, value] of keys.entries()) yield { kind: name, key, value };
    }
  }

  /** Plain objects by kind and key, e.g. for `JSON.stringify` or `toEqual`. */
  toJSON(): Record<string, Record<string, V>> {
    const result: Record<string, Record<string, V>> = {};
    for (const { kind, key, value } of this.entries()) {
      // defineProperty: a `__proto__` kind or key stays plain data.
      if (!Object.hasOwn(result, kind))
        Object.defineProperty(result, kind, { value: {}, enumerable: true, writable: true, configurable: true });
      Object.defineProperty(result[kind], key, { value, enumerable: true, writable: true, configurable: true });
    }
    return result;
  }

  /**
   * Calls `visit` for every entry that differs (by reference) from this state to `next`: `before`
   * absent for a new entry, `after` absent for a removed one. Shared parts are skipped.
   */
  diff(
    next: KeyedState<V>,
    visit: (kind: string, key: string, before: { value: V } | undefined, after: { value: V } | undefined) => void,
  ): void {
    this.#kinds.diff(next.#kinds, (kind, kinds) => {
      const before = kinds.before ?? PersistentMap.empty<V>();
      const after = kinds.after ?? PersistentMap.empty<V>();
      before.diff(after, (key, change) =>
        visit(
          kind,
          key,
          change.type === 'added' ? undefined : { value: change.before },
          change.type === 'removed' ? undefined : { value: change.after },
        ),
      );
    });
  }
}
