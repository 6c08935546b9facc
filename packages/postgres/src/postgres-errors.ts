import { SyncError } from '@eventsync/core';

/** Node's socket errors that mean the server could not be reached or the connection broke. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** What pg says when a connection broke or could not be made (it has no code for these). */
const CONNECTION_MESSAGES =
  /Connection terminated|timeout expired|timeout exceeded when trying to connect|not queryable|Query read timeout|Connection ended/i;

/**
 * The SQLSTATE of an error that PostgreSQL sent (`23505`, `57P01`…), if it has one.
 * See https://www.postgresql.org/docs/current/errcodes-appendix.html.
 */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/** Whether `error` means the database could not be reached, or the connection to it broke. */
export function isConnectionError(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) {
    // 08: connection exception; 57P01–57P03: the server shut down or is starting; 53300: too many connections.
    return state.startsWith('08') || /^57P0[123]$/.test(state) || state === '53300';
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return error instanceof Error && CONNECTION_MESSAGES.test(error.message);
}

/**
 * The `SyncError` a failure of PostgreSQL becomes, with the original error as its `cause`:
 *
 * - `unavailable` (retryable) when the database cannot be reached or the connection broke;
 * - `quota` when the disk is full;
 * - `storage` otherwise: retryable for serialization failures, deadlocks, lock and statement timeouts.
 *
 * A `SyncError` passes through.
 *
 * @param action - what was being done, for the message: `append to`, `read`, `open`…
 */
export function toSyncError(error: unknown, action: string): SyncError {
  if (error instanceof SyncError) return error;
  const state = sqlState(error);
  const message = error instanceof Error ? error.message : String(error);
  const details = state === undefined ? {} : { sqlState: state };
  const what = `Could not ${action} the PostgreSQL event store`;
  if (isConnectionError(error)) {
    return new SyncError('unavailable', `${what}: the database cannot be reached (${message})`, {
      cause: error,
      details,
    });
  }
  if (state === '53100') {
    return new SyncError('quota', `${what}: the database's disk is full`, { cause: error, details });
  }
  // 40001 serialization failure, 40P01 deadlock, 55P03 lock not available, 57014 statement timeout or cancel.
  const retryable = state === '40001' || state === '40P01' || state === '55P03' || state === '57014';
  return new SyncError('storage', `${what}: ${message}${state === undefined ? '' : ` (SQLSTATE ${state})`}`, {
    cause: error,
    details,
    retryable,
  });
}
