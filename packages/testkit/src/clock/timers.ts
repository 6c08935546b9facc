/**
 * The timer functions a component takes instead of the globals, so a {@link FakeClock} can drive it.
 * The globals fit (`{ setTimeout, clearTimeout }`), and so does a `FakeClock`.
 */
export interface Timers {
  /** Calls `callback` once after `ms` milliseconds; returns a handle for {@link Timers.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimeout(handle: unknown): void;
}
