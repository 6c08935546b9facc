import { SyncError, type SyncErrorCode } from '@eventsync/core';
import { decodeProblem } from '../protocol/decode.js';
import type { ProblemDocument } from '../protocol/problem.js';

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
  const details: Record<string, unknown> = { status };
  if (found !== undefined) details.problem = found.code;
  for (const key of ['limit', 'max', 'actual', 'eventId'] as const) {
    if (found?.[key] !== undefined) details[key] = found[key];
  }
  if (retryAfterMs !== undefined) details.retryAfterMs = retryAfterMs;
  return new SyncError(code, `${what} failed with HTTP ${status}${detail ? `: ${detail}` : ''}`, { details });
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
