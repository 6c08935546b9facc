import { isSyncError, type SyncErrorCode } from '@eventsync/core';

/** The stable `code` of a problem document; see the error table of docs/protocol.md. */
export type ProblemCode =
  | 'invalid_request'
  | 'invalid_cursor'
  | 'limit_exceeded'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'chain_broken'
  | 'chain_unknown'
  | 'internal'
  | 'unavailable';

/** Every {@link ProblemCode}, with its HTTP status and title. */
export const PROBLEM_CODES: Readonly<
  Record<
    ProblemCode,
    {
      /** The HTTP status a problem of this code has unless the server chooses another (see {@link problem}). */
      readonly status: number;
      /** The problem document's `title`: the same short text for every problem of this code. */
      readonly title: string;
    }
  >
> = {
  invalid_request: { status: 400, title: 'Invalid request' },
  invalid_cursor: { status: 400, title: 'Invalid cursor' },
  limit_exceeded: { status: 413, title: 'Limit exceeded' },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  unsupported_media_type: { status: 415, title: 'Unsupported media type' },
  too_many_requests: { status: 429, title: 'Too many requests' },
  chain_broken: { status: 409, title: 'Push chain broken' },
  chain_unknown: { status: 409, title: 'Push chain unknown' },
  internal: { status: 500, title: 'Internal server error' },
  unavailable: { status: 503, title: 'Service unavailable' },
};

/** The limits a `limit_exceeded` problem names. */
export type LimitName = 'maxBodyBytes' | 'maxEventsPerPush' | 'maxEventBytes' | 'maxPullLimit';

/** Every {@link LimitName}. */
export const LIMIT_NAMES: readonly LimitName[] = ['maxBodyBytes', 'maxEventsPerPush', 'maxEventBytes', 'maxPullLimit'];

/** The prefix of a problem's `type`: `urn:eventsync:problem:<code>`. */
export const PROBLEM_TYPE_PREFIX = 'urn:eventsync:problem:';

/**
 * An error body (`application/problem+json`, RFC 9457) with eventsync's stable `code`. A client
 * branches on `code` (and `limit`), never on `title` or `detail`.
 */
export interface ProblemDocument {
  /** `urn:eventsync:problem:<code>`. */
  readonly type: string;
  /**
   * A short summary of the code, for people: for a code of {@link PROBLEM_CODES}, its title there.
   * {@link problem} uses the code itself for a code of a server's own, as `decodeProblem` does for a
   * document without a title.
   */
  readonly title: string;
  /** The HTTP status of the response. */
  readonly status: number;
  /** What went wrong, for people. */
  readonly detail?: string;
  /** The stable code; a server may add codes of its own. */
  readonly code: ProblemCode | (string & {});
  /** `limit_exceeded`: the limit passed. */
  readonly limit?: LimitName | (string & {});
  /** `limit_exceeded`: the limit's value. */
  readonly max?: number;
  /** `limit_exceeded`: the value that passed it. */
  readonly actual?: number;
  /**
   * `invalid_request`, `invalid_cursor`: the part of the request that is wrong, as a dot path (`since`,
   * `limit`, `events`, `chain.seq`…). A client may branch on its first segment (a push refused for its
   * `chain` is sent again without one).
   */
  readonly field?: string;
  /** Extension members (RFC 9457 allows them), e.g. `eventId`. */
  readonly [key: string]: unknown;
}

/**
 * Makes a problem document.
 *
 * @param code - the stable code.
 * @param status - the HTTP status; defaults to the code's status in {@link PROBLEM_CODES} (413 for
 *   `limit_exceeded`; pass 400 for a pull `limit` above `maxPullLimit`).
 * @param detail - what went wrong, for people.
 * @param extra - more members: `limit`, `max`, `actual`, or extensions of your own.
 *
 * @example
 * ```ts
 * const body = problem('limit_exceeded', 413, 'The push holds 1500 events, more than maxEventsPerPush (1000)', {
 *   limit: 'maxEventsPerPush', max: 1000, actual: 1500,
 * });
 * new Response(JSON.stringify(body), { status: body.status, headers: { 'Content-Type': MEDIA_TYPES.problem } });
 * ```
 */
export function problem(
  code: ProblemCode | (string & {}),
  status?: number,
  detail?: string,
  extra: Readonly<Record<string, unknown>> = {},
): ProblemDocument {
  const known = (PROBLEM_CODES as Record<string, { status: number; title: string } | undefined>)[code];
  const resolvedStatus = status ?? known?.status ?? 500;
  const document: Record<string, unknown> = {
    type: `${PROBLEM_TYPE_PREFIX}${code}`,
    title: known?.title ?? code,
    status: resolvedStatus,
    ...(detail === undefined ? {} : { detail }),
    code,
  };
  // Own properties only, so an `extra` parsed from JSON cannot reach a prototype through `__proto__`.
  for (const key of Object.keys(extra)) {
    if (key === 'type' || key === 'title' || key === 'status' || key === 'code' || key === 'detail') continue;
    const value = extra[key];
    if (value !== undefined) Object.defineProperty(document, key, { value, enumerable: true, writable: true });
  }
  return document as ProblemDocument;
}

/**
 * The problem a server answers for an error: a `SyncError` maps by its code (`invalid_input` → 400
 * `invalid_request`, `limit_exceeded` → 413 with its limit, `unauthorized` → 401, `forbidden` → 403,
 * `not_found` → 404, `unavailable` and `closed` → 503); `details.problem` and `details.status` (as
 * `decodePullQuery` sets them) choose the code and status instead. A string `details.field` (the
 * part of the request that is wrong) becomes the problem's `field`. Anything else is a 500
 * `internal` whose detail gives nothing away.
 */
export function problemFromError(error: unknown): ProblemDocument {
  if (!isSyncError(error)) return problem('internal', 500, 'The server failed to handle the request');
  const mapped: Partial<Record<SyncErrorCode, ProblemCode>> = {
    invalid_input: 'invalid_request',
    limit_exceeded: 'limit_exceeded',
    unauthorized: 'unauthorized',
    forbidden: 'forbidden',
    not_found: 'not_found',
    unavailable: 'unavailable',
    closed: 'unavailable',
  };
  const { limit, max, actual, eventId, field, status, problem: named } = error.details;
  const code = typeof named === 'string' && named in PROBLEM_CODES ? (named as ProblemCode) : mapped[error.code];
  if (code === undefined) return problem('internal', 500, 'The server failed to handle the request');
  return problem(code, typeof status === 'number' ? status : undefined, error.message, {
    limit,
    max,
    actual,
    eventId,
    ...(typeof field === 'string' ? { field } : {}),
  });
}
