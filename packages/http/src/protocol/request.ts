import { CursorVersion, SyncError, type Filter } from '@eventsync/core';
import * as v from 'valibot';
import { describeIssues, pushRequestSchema } from './schemas.js';
import type { PushChain } from './wire.js';

/** What a pull asks for: the query of `GET /v1/events`. */
export interface PullQuery {
  /** Events strictly after this version. */
  readonly since: CursorVersion;
  /** The most events to return; absent, the server's default page. */
  readonly limit?: number;
  /** `type` and `aggregateId` filters (`tenant` is never sent: the server scopes by credentials). */
  readonly filter?: Filter;
}

/** Bounds {@link decodePullQuery} checks. */
export interface PullQueryLimits {
  /**
   * The largest `limit` accepted.
   *
   * @defaultValue 1000
   */
  readonly maxPullLimit?: number;
}

/**
 * The query string of `GET /v1/events` (client side): `since`, `limit`, and repeated `type` and
 * `aggregateId` parameters.
 *
 * @throws SyncError `invalid_input` for a `limit` that is not a positive integer.
 */
export function encodePullQuery(query: PullQuery): URLSearchParams {
  const params = new URLSearchParams({ since: query.since.toString() });
  if (query.limit !== undefined) {
    if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
      throw new SyncError('invalid_input', `limit must be a positive integer, got ${String(query.limit)}`, {
        details: { field: 'limit' },
      });
    }
    params.set('limit', String(query.limit));
  }
  for (const key of ['type', 'aggregateId'] as const) {
    const wanted = query.filter?.[key];
    if (wanted === undefined) continue;
    for (const value of typeof wanted === 'string' ? [wanted] : wanted) params.append(key, value);
  }
  return params;
}

/**
 * Reads the query of `GET /v1/events` (server side).
 *
 * @throws SyncError `invalid_input` with `details.problem` `invalid_cursor` (a bad `since`) or
 *   `invalid_request` (a bad `limit`, an unknown parameter), or `limit_exceeded` naming `maxPullLimit`
 *   (`details.status` 400); `problemFromError` turns them into the right problem documents.
 */
export function decodePullQuery(params: URLSearchParams, limits: PullQueryLimits = {}): PullQuery {
  const maxPullLimit = limits.maxPullLimit ?? 1000;
  for (const key of params.keys()) {
    if (!['since', 'limit', 'type', 'aggregateId'].includes(key)) {
      throw badRequest('invalid_request', key, `Unknown query parameter ${JSON.stringify(key)}`);
    }
  }
  const sinceValues = params.getAll('since');
  if (sinceValues.length > 1) throw badRequest('invalid_cursor', 'since', 'since is given more than once');
  let since = CursorVersion.ZERO;
  if (sinceValues[0] !== undefined) {
    try {
      since = CursorVersion.parse(sinceValues[0]);
    } catch (error) {
      throw badRequest('invalid_cursor', 'since', (error as Error).message);
    }
  }
  const limitValues = params.getAll('limit');
  let limit: number | undefined;
  if (limitValues.length > 1) throw badRequest('invalid_request', 'limit', 'limit is given more than once');
  if (limitValues[0] !== undefined) {
    const text = limitValues[0];
    limit = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isSafeInteger(limit)) {
      throw badRequest('invalid_request', 'limit', `limit must be a positive integer, got ${JSON.stringify(text)}`);
    }
    if (limit > maxPullLimit) {
      throw new SyncError('limit_exceeded', `limit ${limit} is more than maxPullLimit (${maxPullLimit})`, {
        details: { field: 'limit', limit: 'maxPullLimit', max: maxPullLimit, actual: limit, status: 400 },
      });
    }
  }
  const type = params.getAll('type');
  const aggregateId = params.getAll('aggregateId');
  const filter: Filter | undefined =
    type.length === 0 && aggregateId.length === 0
      ? undefined
      : { ...(type.length > 0 ? { type } : {}), ...(aggregateId.length > 0 ? { aggregateId } : {}) };
  return { since, ...(limit === undefined ? {} : { limit }), ...(filter === undefined ? {} : { filter }) };
}

/** The body of `POST /v1/events` as {@link decodePush} reads it (server side). */
export interface DecodedPush {
  /** The pushed items, unchecked: the log answers for each one (a malformed one is `rejected`). */
  readonly events: unknown[];
  /** The push's place in a push chain, when the client sent one; see {@link PushChain}. */
  readonly chain?: PushChain;
}

/**
 * Reads the body of `POST /v1/events` (server side): `{ "events": [...] }` with an optional
 * `"chain": { "id", "seq" }`. The events are left for the log to check one by one (a malformed one
 * is `rejected`, not the whole batch).
 *
 * @param json - the parsed body.
 * @param maxEventsPerPush - the most events a push may hold.
 * @throws SyncError `invalid_input` (`details.problem` `invalid_request`) for a wrong envelope or
 *   chain, or `limit_exceeded` naming `maxEventsPerPush`.
 */
export function decodePush(json: unknown, maxEventsPerPush = Number.POSITIVE_INFINITY): DecodedPush {
  const result = v.safeParse(pushRequestSchema, json);
  if (!result.success) {
    const { field, message } = describeIssues(result.issues);
    throw badRequest(
      'invalid_request',
      field,
      `The push body must be { "events": [...] } with an optional "chain": { "id", "seq" }: ${field}: ${message}`,
    );
  }
  const { events, chain } = result.output;
  if (events.length > maxEventsPerPush) {
    throw new SyncError(
      'limit_exceeded',
      `The push holds ${events.length} events, more than maxEventsPerPush (${maxEventsPerPush})`,
      { details: { limit: 'maxEventsPerPush', max: maxEventsPerPush, actual: events.length } },
    );
  }
  return chain === undefined ? { events } : { events, chain };
}

/**
 * Reads the body of `POST /v1/events` (server side) for a server that does not order push chains:
 * exactly `{ "events": [...] }`, as {@link decodePush} reads it, and a body with a `chain` refused
 * (`400 invalid_request`), so that a client never believes its chained pushes are kept in order.
 *
 * @param json - the parsed body.
 * @param maxEventsPerPush - the most events a push may hold.
 * @throws SyncError as {@link decodePush} does, and `invalid_input` for a `chain`.
 */
export function decodePushRequest(json: unknown, maxEventsPerPush = Number.POSITIVE_INFINITY): unknown[] {
  const { events, chain } = decodePush(json, maxEventsPerPush);
  if (chain !== undefined) {
    throw badRequest('invalid_request', 'chain', 'This server does not take push chains: push without "chain"');
  }
  return events;
}

function badRequest(problem: 'invalid_request' | 'invalid_cursor', field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field, problem, status: 400 } });
}
