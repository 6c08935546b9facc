/**
 * A committed change to an {@link IndexedDbEventStore}'s database, as
 * {@link IndexedDbEventStore.subscribe} tells it: made through this store object (`local`) or by
 * another tab, worker or store object on the same database (`remote`, carried by a
 * `BroadcastChannel`, or found by polling where there is none).
 *
 * @example
 * ```ts
 * store.subscribe((change) => {
 *   if (change.origin === 'remote') void projection.refresh();
 * });
 * ```
 */
export interface StoreChange {
  /** `local`: made through this store object; `remote`: made elsewhere on the same database. */
  readonly origin: 'local' | 'remote';
  /** Pending events were added to or removed from the outbox. */
  readonly outbox: boolean;
  /** The confirmed log grew or the pull cursor moved. */
  readonly log: boolean;
  /** Rejection or conflict records changed. */
  readonly records: boolean;
}
