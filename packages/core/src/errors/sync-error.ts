/**
 * The stable error codes of eventsync. A code never changes meaning between releases, so callers can
 * branch on it; the message is for people and may change.
 *
 * - `invalid_input`: an argument, an event, a version string or a request body is malformed.
 * - `closed`: the store, transport or manager was closed before or during the call.
 * - `aborted`: the caller's `AbortSignal` fired (the signal's own `reason` is used where it is an error).
 * - `network`: the remote could not be reached; retryable.
 * - `timeout`: the remote did not answer in time; retryable.
 * - `unavailable`: the remote answered that it cannot serve now (5xx, 429); retryable.
 * - `protocol`: the remote answered something that breaks the wire protocol.
 * - `unauthorized`: credentials are missing or invalid.
 * - `forbidden`: the credentials do not allow this.
 * - `not_found`: the thing asked for does not exist.
 * - `conflict`: a write lost a race that the caller must resolve.
 * - `rejected`: the remote refused an event permanently.
 * - `limit_exceeded`: a configured bound (bytes, batch size, clock nodes) was passed.
 * - `quota`: the storage is full.
 * - `storage`: the storage failed for another reason.
 * - `internal`: a bug or an unexpected state; report it.
 */
export type SyncErrorCode =
  | 'invalid_input'
  | 'closed'
  | 'aborted'
  | 'network'
  | 'timeout'
  | 'unavailable'
  | 'protocol'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rejected'
  | 'limit_exceeded'
  | 'quota'
  | 'storage'
  | 'internal';

/** Every code, in a stable order: useful for exhaustive tests and for validating codes off the wire. */
export const SYNC_ERROR_CODES: readonly SyncErrorCode[] = [
  'invalid_input',
  'closed',
  'aborted',
  'network',
  'timeout',
  'unavailable',
  'protocol',
  'unauthorized',
  'forbidden',
  'not_found',
  'conflict',
  'rejected',
  'limit_exceeded',
  'quota',
  'storage',
  'internal',
];

const RETRYABLE_CODES: ReadonlySet<SyncErrorCode> = new Set(['network', 'timeout', 'unavailable']);

/** Structured details that travel with an error, typed per code where a code has any. */
export interface SyncErrorDetails {
  /** `invalid_input`: the path of the offending field, e.g. `data.title` or `metadata.timestamp`. */
  readonly field?: string;
  /** `limit_exceeded`: the name of the limit, e.g. `maxEventBytes`. */
  readonly limit?: string;
  /** `limit_exceeded`: the configured bound. */
  readonly max?: number;
  /** `limit_exceeded`: the value that passed it. */
  readonly actual?: number;
  /** `unavailable` and `timeout`: how long the remote asked the caller to wait, in milliseconds. */
  readonly retryAfterMs?: number;
  /** The HTTP status where the error came from a response. */
  readonly status?: number;
  /** The id of the event the error is about, where there is one. */
  readonly eventId?: string;
  /** Anything else an implementation wants to attach; never required to understand the error. */
  readonly [key: string]: unknown;
}

/** Options of the {@link SyncError} constructor. */
export interface SyncErrorOptions {
  /** The underlying error (a `DOMException`, a `pg` error, a `TypeError` from `fetch`…). */
  readonly cause?: unknown;
  /** Structured details; see {@link SyncErrorDetails}. */
  readonly details?: SyncErrorDetails;
  /** Overrides whether the error is worth retrying; by default `network`, `timeout` and `unavailable` are. */
  readonly retryable?: boolean;
}

const SYNC_ERROR = Symbol.for('@eventsync/core/SyncError');

/**
 * The one error class of eventsync. Every public entry point fails with it (or with the caller's own
 * abort reason), so `catch (e) { if (isSyncError(e, 'quota')) … }` is all a caller needs.
 *
 * @example
 * ```ts
 * try {
 *   await store.appendLocal([event]);
 * } catch (error) {
 *   if (isSyncError(error, 'quota')) showStorageFullBanner();
 *   else throw error;
 * }
 * ```
 */
export class SyncError extends Error {
  /**
   * Recognises errors made by any copy of `@eventsync/core` (an app may end up with two), so
   * `instanceof` and {@link isSyncError} hold across copies.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SYNC_ERROR] === true;
  }

  /** @internal The brand behind `instanceof`. */
  readonly [SYNC_ERROR] = true;

  /** The stable code; see {@link SyncErrorCode}. */
  readonly code: SyncErrorCode;
  /** Structured details; empty when the code carries none. */
  readonly details: SyncErrorDetails;
  /** Whether trying the same call again later may succeed. */
  readonly retryable: boolean;

  constructor(code: SyncErrorCode, message: string, options: SyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SyncError';
    this.code = code;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? RETRYABLE_CODES.has(code);
  }

  /** A plain object that survives `JSON.stringify` and `structuredClone`; the `cause` and the stack are left out. */
  toJSON(): {
    /** The error's `name`: `'SyncError'`. */
    name: string;
    /** As {@link SyncError.code}. */
    code: SyncErrorCode;
    /** The error's message. */
    message: string;
    /** As {@link SyncError.details}. */
    details: SyncErrorDetails;
    /** As {@link SyncError.retryable}. */
    retryable: boolean;
  } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      details: this.details,
      retryable: this.retryable,
    };
  }
}

/**
 * Whether `value` is a {@link SyncError}, optionally with one of the given codes.
 *
 * @example
 * ```ts
 * if (isSyncError(error, 'network', 'timeout')) scheduleRetry();
 * ```
 */
export function isSyncError(value: unknown, ...codes: SyncErrorCode[]): value is SyncError {
  if (!(value instanceof SyncError)) return false;
  return codes.length === 0 || codes.includes(value.code);
}
