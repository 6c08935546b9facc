import { SyncError, type CallScope, type SyncErrorCode } from '@eventsync/core';
import { decodeProblem } from '../protocol/decode.js';
import { PROBLEM_CODES, type ProblemDocument } from '../protocol/problem.js';

/**
 * The milliseconds a `Retry-After` header asks to wait: delay-seconds (`120`) or an HTTP date;
 * `undefined` when absent or unreadable.
 *
 * @param now - the current time, for the date form.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^[0-9]+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : undefined;
  }
  // Only the forms HTTP dates take (they name a weekday and GMT); Date.parse alone accepts too much.
  if (!/^[A-Za-z]{3},? .*GMT$/.test(text) && !/^[A-Za-z]+, \d{2}-[A-Za-z]{3}-\d{2} .*GMT$/.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The `SyncError` for an HTTP error response, per the error table of docs/protocol.md. */
export function responseError(
  what: string,
  response: { readonly status: number; readonly statusText: string; readonly headers: Headers },
  body: string,
): SyncError {
  const { status } = response;
  const found = readProblem(response.headers, body, status);
  const retryAfterMs = parseRetryAfter(response.headers.get('Retry-After'));
  const code = codeFor(status, found?.code);
  const detail = found?.detail ?? (response.statusText || undefined);
  const details = errorDetails(status, found, retryAfterMs);
  return new SyncError(code, `${what} failed with HTTP ${status}${detail ? `: ${detail}` : ''}`, { details });
}

/**
 * The `SyncError` for a problem document that a server answered, mapped as `HttpTransport` maps
 * an HTTP error answer (the error table of docs/protocol.md): `invalid_input` for `400` and `415`,
 * `limit_exceeded` for `413` and for a `400` with code `limit_exceeded`, `unauthorized` for `401`,
 * `forbidden` for `403`, `not_found` for `404`, `timeout` for `408`, `unavailable` (retryable) for
 * `429` and every `5xx`, and `protocol` for any other status (`405`: client and server disagree about
 * the protocol). A document without an error status maps by its code's status in `PROBLEM_CODES`.
 *
 * Its `details` hold what a caller branches on: `status`, `problem` (the problem's code), the
 * `limit`, `max`, `actual`, `eventId` and `field` the problem names, and `retryAfterMs` when given.
 *
 * For a transport that carries the protocol's problem documents over something else than HTTP (a
 * WebSocket message, a queue), so that its errors read like `HttpTransport`'s. Check untrusted JSON
 * with `decodeProblem` first.
 *
 * @param what - the operation that failed, which starts the message: `'Push'`, `'Pull'`…
 * @param problem - the problem document, checked (`decodeProblem`).
 * @param options - `retryAfterMs`: how long the server asked to wait, in milliseconds, for
 *   `details.retryAfterMs` (a caller's backoff waits at least that long).
 * @returns the error to throw: its message is `<what> failed with <code>: <detail>`.
 *
 * @example
 * ```ts
 * // A WebSocket transport receives { "type": "error", "id": 7, "problem": { … } }:
 * const error = errorFromProblem('Push', decodeProblem(message.problem));
 * error.code; // 'limit_exceeded'
 * error.details; // { status: 413, problem: 'limit_exceeded', limit: 'maxEventsPerPush', max: 1000, actual: 1500 }
 * ```
 */
export function errorFromProblem(
  what: string,
  problem: ProblemDocument,
  options: { readonly retryAfterMs?: number } = {},
): SyncError {
  const known = (PROBLEM_CODES as Readonly<Record<string, { readonly status: number } | undefined>>)[problem.code];
  const status = problem.status >= 400 && problem.status <= 599 ? problem.status : (known?.status ?? problem.status);
  const detail = problem.detail === undefined || problem.detail === '' ? '' : `: ${problem.detail}`;
  return new SyncError(codeFor(status, problem.code), `${what} failed with ${problem.code}${detail}`, {
    details: errorDetails(status, problem, options.retryAfterMs),
  });
}

/** The `details` of an error answer: the status, the problem's code and what it names, the wait asked. */
function errorDetails(
  status: number,
  problem: ProblemDocument | undefined,
  retryAfterMs: number | undefined,
): Record<string, unknown> {
  const details: Record<string, unknown> = { status };
  if (problem !== undefined) details.problem = problem.code;
  for (const key of ['limit', 'max', 'actual', 'eventId', 'field'] as const) {
    if (problem?.[key] !== undefined) details[key] = problem[key];
  }
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  return details;
}

function codeFor(status: number, problemCode: string | undefined): SyncErrorCode {
  if (status >= 500 || status === 429) return 'unavailable';
  switch (status) {
    case 400:
      return problemCode === 'limit_exceeded' ? 'limit_exceeded' : 'invalid_input';
    case 401:
      return 'unauthorized';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 408:
      return 'timeout';
    case 409:
      // A push chain the server could not keep in order: nothing of that push was stored, and pushing
      // the events again (unchained, once the earlier pushes are answered) is safe.
      return problemCode === 'chain_broken' || problemCode === 'chain_unknown' ? 'unavailable' : 'protocol';
    case 413:
      return 'limit_exceeded';
    case 415:
      return 'invalid_input';
    default:
      // 405 and any status the protocol does not use: client and server disagree about the protocol.
      return 'protocol';
  }
}

function readProblem(headers: Headers, body: string, status: number): ProblemDocument | undefined {
  if (!/json/i.test(headers.get('Content-Type') ?? '')) return undefined;
  try {
    return decodeProblem(JSON.parse(body), status);
  } catch {
    return undefined;
  }
}

/**
 * The error a failed `fetch` or body read rejects with: the scope's reason when the request was
 * cancelled (so a caller's abort rejects with its own `signal.reason`); a `SyncError` as it is;
 * anything else (fetch's `TypeError`) as `SyncError('network')`.
 */
export function requestFailure(scope: CallScope, error: unknown, what: string): unknown {
  if (scope.signal.aborted) return scope.signal.reason;
  if (error instanceof SyncError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SyncError('network', `${what} could not reach the server: ${message}`, { cause: error });
}
