import { SyncError } from '../errors/sync-error.js';

/**
 * What a subscription (or a watcher) does when its buffer is full and one more item comes:
 *
 * - `drop_newest`: the new item is dropped; what is buffered stays. Nobody waits; the oldest news wins.
 * - `drop_oldest`: the oldest buffered item is dropped to make room. Nobody waits; the latest news wins.
 * - `block`: nothing is dropped. On a bus, the publisher waits (its `publish` promise stays pending,
 *   until its `signal` aborts or the bus closes); on a watch, see `WatchOptions.backpressure`.
 */
export type Backpressure = 'drop_newest' | 'drop_oldest' | 'block';

/**
 * Why an item never reached a subscriber:
 *
 * - `buffer_full`: the buffer was full (`drop_newest` dropped the new item, `drop_oldest` the oldest).
 * - `aborted`: a blocked publisher's `signal` aborted while the item waited for room.
 * - `unsubscribed`: the subscription ended with the item still buffered or waiting.
 * - `closed`: the bus (or the projection) closed with the item still buffered or waiting.
 */
export type DropReason = 'buffer_full' | 'aborted' | 'unsubscribed' | 'closed';

/** Every {@link DropReason}, in a stable order. */
export const DROP_REASONS: readonly DropReason[] = ['buffer_full', 'aborted', 'unsubscribed', 'closed'];

/** Buffering options shared by bus subscriptions and watchers. */
export interface BufferOptions {
  /**
   * How many items wait for a slow consumer before `backpressure` applies. An item being handled by a
   * callback does not count.
   *
   * @defaultValue 128
   */
  readonly bufferSize?: number;
  /**
   * What happens when the buffer is full; see {@link Backpressure}.
   *
   * @defaultValue `'drop_newest'`
   */
  readonly backpressure?: Backpressure;
}

/** The defaults of {@link BufferOptions}. */
export const DEFAULT_BUFFER_OPTIONS = {
  /** 128 items may wait; see {@link BufferOptions.bufferSize}. */
  bufferSize: 128,
  /** A full buffer drops the new item; see {@link BufferOptions.backpressure}. */
  backpressure: 'drop_newest',
} as const satisfies Required<BufferOptions>;

const POLICIES: readonly Backpressure[] = ['drop_newest', 'drop_oldest', 'block'];

/** {@link BufferOptions} checked, with defaults filled in. */
export function resolveBufferOptions(options: BufferOptions): Required<BufferOptions> {
  const { bufferSize = DEFAULT_BUFFER_OPTIONS.bufferSize, backpressure = DEFAULT_BUFFER_OPTIONS.backpressure } =
    options;
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) {
    throw new SyncError('invalid_input', `bufferSize must be a positive integer, got ${String(bufferSize)}`, {
      details: { field: 'bufferSize' },
    });
  }
  if (!POLICIES.includes(backpressure)) {
    throw new SyncError(
      'invalid_input',
      `backpressure must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(backpressure)}`,
      { details: { field: 'backpressure' } },
    );
  }
  return { bufferSize, backpressure };
}

/** The counts of one subscription (or watcher). */
export interface SubscriptionStats {
  /** Items handed to the consumer: its callback called, or its `next()` answered. */
  readonly delivered: number;
  /** Items that matched and will never reach the consumer, in all. */
  readonly dropped: number;
  /** The same items by {@link DropReason}; the counts add up to `dropped`. */
  readonly droppedBy: Readonly<Record<DropReason, number>>;
  /** Items in the buffer now, not yet read. */
  readonly queued: number;
  /** Items of blocked publishers waiting for room now (`block`). */
  readonly waiting: number;
}
