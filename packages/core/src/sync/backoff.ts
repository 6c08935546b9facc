import { SyncError } from '../errors/sync-error.js';

/** How auto sync waits between failed attempts. */
export interface RetryOptions {
  /**
   * The wait after the first failure, in milliseconds.
   *
   * @defaultValue 1000
   */
  readonly initialDelayMs?: number;
  /**
   * The longest wait, in milliseconds.
   *
   * @defaultValue 60000
   */
  readonly maxDelayMs?: number;
  /**
   * How much longer each wait is than the one before.
   *
   * @defaultValue 2
   */
  readonly factor?: number;
  /**
   * The share of each wait drawn at random (0 to 1), so that clients that failed together do not
   * retry together.
   *
   * @defaultValue 0.5
   */
  readonly jitter?: number;
}

/** The defaults of {@link RetryOptions}. */
export const DEFAULT_RETRY_OPTIONS: Required<RetryOptions> = {
  initialDelayMs: 1000,
  maxDelayMs: 60_000,
  factor: 2,
  jitter: 0.5,
};

/** Checks retry options and fills in the defaults. */
export function resolveRetryOptions(options: RetryOptions = {}): Required<RetryOptions> {
  const resolved = { ...DEFAULT_RETRY_OPTIONS, ...options };
  const { initialDelayMs, maxDelayMs, factor, jitter } = resolved;
  if (!(initialDelayMs > 0) || !(maxDelayMs >= initialDelayMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
    throw new SyncError(
      'invalid_input',
      `Retry options need 0 < initialDelayMs <= maxDelayMs, factor >= 1 and 0 <= jitter <= 1, got ${JSON.stringify(options)}`,
      { details: { field: 'retry' } },
    );
  }
  return resolved;
}

/**
 * The wait before retry number `attempt` (1 for the first retry): exponential, capped, with jitter
 * taken off the top so the wait is never longer than the cap. A server's `Retry-After` wins when longer.
 */
export function backoffDelay(
  attempt: number,
  options: Required<RetryOptions>,
  random: () => number,
  retryAfterMs = 0,
): number {
  const exponential = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** Math.max(0, attempt - 1));
  const delay = exponential * (1 - options.jitter * random());
  return Math.max(Math.round(delay), retryAfterMs);
}
