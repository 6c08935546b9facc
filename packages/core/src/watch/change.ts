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
  | { readonly type: 'create'; readonly kind: string; readonly key: string; readonly value: V }
  | { readonly type: 'update'; readonly kind: string; readonly key: string; readonly value: V; readonly previous: V }
  | { readonly type: 'delete'; readonly kind: string; readonly key: string; readonly previous: V };

/** Every {@link ChangeType}. */
export const CHANGE_TYPES: readonly ChangeType[] = ['create', 'update', 'delete'];
