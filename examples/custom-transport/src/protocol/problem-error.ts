import { SyncError, type SyncErrorCode } from '@eventsync/core';
import { decodeProblem, type ProblemDocument } from '@eventsync/http';

/**
 * The `SyncError` code of each problem code, as `HttpTransport` maps the HTTP answers: what a caller
 * may retry (`unavailable`) and what it may not. A code the client does not know is a `protocol` error.
 */
const ERROR_CODES: Readonly<Record<string, SyncErrorCode>> = {
  invalid_request: 'invalid_input',
  invalid_cursor: 'invalid_input',
  unsupported_media_type: 'invalid_input',
  limit_exceeded: 'limit_exceeded',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  not_found: 'not_found',
  too_many_requests: 'unavailable',
  unavailable: 'unavailable',
  internal: 'unavailable',
};

/**
 * The `SyncError` for a problem document a server sent in an `error` message: the code mapped as the
 * HTTP transport maps it, `details.problem` the problem's code, `details.status` its status, and the
 * limit, its bounds and the event named where the problem has them.
 *
 * @param what - the call that failed, for the message (`Push`, `Pull`…).
 * @param json - the `problem` member of the message (untrusted).
 * @throws SyncError `protocol` when `json` is not a problem document.
 */
export function problemError(what: string, json: unknown): SyncError {
  const problem: ProblemDocument = decodeProblem(json);
  const code = ERROR_CODES[problem.code] ?? 'protocol';
  const details: Record<string, unknown> = { problem: problem.code, status: problem.status };
  for (const key of ['limit', 'max', 'actual', 'eventId'] as const) {
    if (problem[key] !== undefined) details[key] = problem[key];
  }
  const detail = problem.detail === undefined ? '' : `: ${problem.detail}`;
  return new SyncError(code, `${what} failed with ${problem.code}${detail}`, { details });
}
