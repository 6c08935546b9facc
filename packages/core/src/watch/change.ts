/** What happened to an entry: it appeared, its value changed, or it went away. */
export type ChangeType = 'create' | 'update' | 'delete';

/**
 * A notification of a watch: one entry of a keyed projection that changed in a committed refresh.
 *
 * @example
 * ```ts
 * switch (change.type) {
 *   case 'create': view.set(change.key, change.value); break;
 *   case 'update': view.set(change.key, change.value); break; // change.previous is the old value
 *   case 'delete': view.delete(change.key); break; // change.previous is the value it had
 * }
 * ```
 */
export type Change<V> =
  /** The entry appeared. */
  | {
      /** The entry appeared (or a watch with `replay` reports it as it stands). */
      readonly type: 'create';
      /** The entry's kind, e.g. `'todos'`. */
      readonly kind: string;
      /** The entry's key within its kind, e.g. `'todo-1'`. */
      readonly key: string;
      /** Its value. */
      readonly value: V;
    }
  /** The entry's value changed (by the projection's `equals`). */
  | {
      /** The entry's value changed. */
      readonly type: 'update';
      /** The entry's kind, e.g. `'todos'`. */
      readonly kind: string;
      /** The entry's key within its kind, e.g. `'todo-1'`. */
      readonly key: string;
      /** Its new value. */
      readonly value: V;
      /** The value it had before the change. */
      readonly previous: V;
    }
  /** The entry went away. */
  | {
      /** The entry went away. */
      readonly type: 'delete';
      /** The entry's kind, e.g. `'todos'`. */
      readonly kind: string;
      /** The entry's key within its kind, e.g. `'todo-1'`. */
      readonly key: string;
      /** The value it had before it went away. */
      readonly previous: V;
    };

/** Every {@link ChangeType}. */
export const CHANGE_TYPES: readonly ChangeType[] = ['create', 'update', 'delete'];
