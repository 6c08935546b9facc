import {
  CursorVersion,
  SyncError,
  validateEvent,
  type AppendResult,
  type Event,
  type EventLimits,
  type EventPage,
  type LiveBatch,
  type VersionedEvent,
} from '@eventsync/core';
import * as v from 'valibot';
import type { ProblemDocument } from './problem.js';
import {
  describeIssues,
  healthResponseSchema,
  problemSchema,
  pullResponseSchema,
  pushChainSchema,
  pushResponseSchema,
  streamBatchSchema,
  versionResponseSchema,
} from './schemas.js';
import type { HealthResponse, PushChain } from './wire.js';

/** Options of the decoders of server responses. */
export interface DecodeOptions {
  /**
   * The bounds events read from the server must keep. The server has checked its own limits already,
   * so by default the size bound is lifted (a server may allow events larger than 64 KiB) while the
   * shape rules stay.
   *
   * @defaultValue `{ maxEventBytes: Infinity }`
   */
  readonly limits?: EventLimits;
}

const DEFAULT_DECODE_LIMITS: EventLimits = { maxEventBytes: Number.POSITIVE_INFINITY };

/**
 * Decodes the `200` answer of `POST /v1/events` for the batch that was sent: one result per event,
 * in the batch's order, with the same ids; accepted events at increasing versions.
 *
 * @param json - the parsed body (untrusted).
 * @param batch - the events that were pushed, or their ids (an item without a string id is answered
 *   with `id: ""`, and must be `rejected`).
 * @throws SyncError `protocol` saying what is wrong.
 *
 * @example
 * ```ts
 * const results = decodePushResponse(await response.json(), batch);
 * ```
 */
export function decodePushResponse(json: unknown, batch: readonly (Pick<Event, 'id'> | string)[]): AppendResult[] {
  const results = wireResults(json);
  if (results.length !== batch.length) {
    throw malformed(
      'push response',
      'results',
      `${results.length} results for a batch of ${batch.length} events (one per event, in order)`,
    );
  }
  let lastAccepted = -1;
  return results.map((result, i): AppendResult => {
    const id = idOf(batch[i]);
    if (result.id !== id) {
      throw malformed('push response', `results.${i}.id`, `result ${i} is for ${result.id}, but event ${i} is ${id}`);
    }
    switch (result.status) {
      case 'accepted': {
        const version = CursorVersion.parse(result.version);
        if (version.value <= lastAccepted) {
          throw malformed(
            'push response',
            `results.${i}.version`,
            `accepted events must get increasing versions, got ${version.value} after ${lastAccepted}`,
          );
        }
        lastAccepted = version.value;
        return { id, status: 'accepted', version };
      }
      case 'duplicate':
        return { id, status: 'duplicate', version: CursorVersion.parse(result.version) };
      case 'conflict':
        return { id, status: 'conflict', latest: CursorVersion.parse(result.latest), reason: result.reason };
      case 'rejected':
        return { id, status: 'rejected', code: result.code, reason: result.reason };
    }
  });
}

/**
 * The `chain` member of a push body or of its `200` answer, when it is a well-formed chain, whatever
 * else the JSON holds; `undefined` otherwise. A client reads the echo of its chain in an answer with
 * it (see {@link PushResponse.chain}: the server's word that it decided the push in its chain's
 * order); a server reads the chain of a push it refuses for another reason.
 */
export function pushChainOf(json: unknown): PushChain | undefined {
  const chain = (json as { chain?: unknown } | null)?.chain;
  if (chain === undefined) return undefined;
  const parsed = v.safeParse(pushChainSchema, chain);
  return parsed.success ? parsed.output : undefined;
}

/**
 * Decodes the `200` answer of `GET /v1/events`: valid events at strictly increasing versions, all
 * after `since` when it is given, and a `next` that is not before the last event nor before `since`.
 *
 * @param json - the parsed body (untrusted).
 * @param since - the cursor the pull asked for, to check the page against.
 * @throws SyncError `protocol` saying what is wrong.
 */
export function decodePullResponse(json: unknown, since?: CursorVersion, options: DecodeOptions = {}): EventPage {
  const body = parse(pullEnvelopeSchema, json, 'pull response');
  const items = wireItems(body.events, pullResponseSchema, json, 'pull response');
  const events = decodeVersionedEvents(items, 'pull response', 'events', since, options);
  const next = CursorVersion.parse(body.next);
  const last = events.at(-1)?.version;
  if (last !== undefined && next.value < last.value) {
    throw malformed('pull response', 'next', `next (${next.value}) is before the last event's version (${last.value})`);
  }
  if (since !== undefined && next.value < since.value) {
    throw malformed('pull response', 'next', `next (${next.value}) is before since (${since.value})`);
  }
  if (since !== undefined && body.hasMore && next.value === since.value) {
    throw malformed('pull response', 'next', `hasMore is true but next (${next.value}) did not move past since`);
  }
  return { events, next, hasMore: body.hasMore };
}

/** Decodes the `200` answer of `GET /v1/version`. @throws SyncError `protocol`. */
export function decodeVersionResponse(json: unknown): CursorVersion {
  return CursorVersion.parse(parse(versionResponseSchema, json, 'version response').latest);
}

/** Decodes the `200` answer of `GET /v1/health`. @throws SyncError `protocol`. */
export function decodeHealthResponse(json: unknown): HealthResponse {
  return parse(healthResponseSchema, json, 'health response');
}

/**
 * Decodes the `data` of an `events` message of `/v1/stream`: valid events at strictly increasing
 * versions, after `after` when it is given, and a `cursor` not before the last event. A batch may
 * hold no events (the first message of a stream, saying where it starts).
 *
 * @param json - the parsed `data` (untrusted).
 * @param after - the cursor of the previous message, to check the batch against.
 * @throws SyncError `protocol` saying what is wrong.
 */
export function decodeStreamBatch(json: unknown, after?: CursorVersion, options: DecodeOptions = {}): LiveBatch {
  const body = parse(streamEnvelopeSchema, json, 'stream batch');
  const items = wireItems(body.events, streamBatchSchema, json, 'stream batch');
  // Events at or before `after` are not an error here: a reader drops what it already has.
  const events = decodeVersionedEvents(items, 'stream batch', 'events', undefined, options);
  const cursor = CursorVersion.parse(body.cursor);
  const last = events.at(-1)?.version;
  if (last !== undefined && cursor.value < last.value) {
    throw malformed('stream batch', 'cursor', `cursor (${cursor.value}) is before the last event (${last.value})`);
  }
  if (after !== undefined && last === undefined && cursor.value < after.value) {
    throw malformed('stream batch', 'cursor', `cursor (${cursor.value}) went back from ${after.value}`);
  }
  return { events, cursor };
}

/**
 * Decodes a problem document (`application/problem+json`). Unknown members are dropped but for
 * `limit`, `max`, `actual`, `eventId` and a string `field`; `type`, `title` and `status` are filled
 * in when missing.
 *
 * @param json - the parsed body (untrusted).
 * @param status - the response's HTTP status, used when the document has none.
 * @throws SyncError `protocol` when it is not a problem document with a `code`.
 */
export function decodeProblem(json: unknown, status?: number): ProblemDocument {
  const body = parse(problemSchema, json, 'problem document');
  const document: Record<string, unknown> = {
    type: body.type ?? `urn:eventsync:problem:${body.code}`,
    title: body.title ?? body.code,
    status: body.status ?? status ?? 0,
    code: body.code,
  };
  for (const key of ['detail', 'limit', 'max', 'actual', 'eventId'] as const) {
    if (body[key] !== undefined) document[key] = body[key];
  }
  if (typeof body.field === 'string') document.field = body.field;
  return document as ProblemDocument;
}

// The envelopes of a page and of a stream batch, with their events left to `wireItems`: a page holds
// up to thousands of `{ event, version }` items, and a hand check of each is far cheaper than valibot's.
const pullEnvelopeSchema = v.object({ ...pullResponseSchema.entries, events: v.array(v.unknown()) });
const streamEnvelopeSchema = v.object({ ...streamBatchSchema.entries, events: v.array(v.unknown()) });

type WireResultOf = v.InferOutput<typeof pushResponseSchema>['results'][number];

/**
 * The results of a push answer, checked as `pushResponseSchema` would. A batch answered all
 * `accepted` or `duplicate` (the usual case) is checked by hand, far cheaper than valibot's variant
 * for a thousand results; any other result, or a malformed one, has valibot parse the whole body.
 */
function wireResults(json: unknown): WireResultOf[] {
  const body = parse(pushEnvelopeSchema, json, 'push response');
  const results: WireResultOf[] = new Array<WireResultOf>(body.results.length);
  for (let i = 0; i < body.results.length; i++) {
    const item = body.results[i] as { id?: unknown; status?: unknown; version?: unknown } | null;
    if (
      typeof item !== 'object' ||
      item === null ||
      Array.isArray(item) ||
      (item.status !== 'accepted' && item.status !== 'duplicate') ||
      typeof item.id !== 'string' ||
      item.id === '' ||
      !isWireVersion(item.version)
    ) {
      return parse(pushResponseSchema, json, 'push response').results;
    }
    results[i] = { id: item.id, status: item.status, version: item.version };
  }
  return results;
}

const pushEnvelopeSchema = v.object({ ...pushResponseSchema.entries, results: v.array(v.unknown()) });

/**
 * The `{ event, version }` items of a page, each checked as `versionedEventSchema` would (an object
 * with a version string; `decodeVersionedEvents` parses the version and validates the event) and
 * copied without unknown members. On the first item that fails, `schema` parses the whole body to
 * throw valibot's own error.
 */
function wireItems(
  items: readonly unknown[],
  schema: v.GenericSchema,
  json: unknown,
  what: string,
): { event: unknown; version: string }[] {
  const checked: { event: unknown; version: string }[] = new Array<{ event: unknown; version: string }>(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as { event?: unknown; version?: unknown } | null;
    if (typeof item !== 'object' || item === null || Array.isArray(item) || !isWireVersion(item.version)) {
      parse(schema, json, what);
      throw malformed(what, `events.${i}`, 'Expected an object with an event and a version string');
    }
    checked[i] = { event: item.event, version: item.version };
  }
  return checked;
}

/** What `versionSchema` accepts: a decimal string without leading zeros, within the safe integers. */
function isWireVersion(value: unknown): value is string {
  return typeof value === 'string' && WIRE_VERSION.test(value) && Number.isSafeInteger(Number(value));
}

const WIRE_VERSION = /^(0|[1-9][0-9]*)$/;

function decodeVersionedEvents(
  items: readonly { event: unknown; version: string }[],
  what: string,
  field: string,
  since: CursorVersion | undefined,
  options: DecodeOptions,
): VersionedEvent[] {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  let previous = since?.value ?? -1;
  return items.map((item, i) => {
    try {
      validateEvent(item.event, limits);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw malformed(what, `${field}.${i}.event`, message, error);
    }
    const version = CursorVersion.parse(item.version);
    if (version.value <= previous) {
      throw malformed(
        what,
        `${field}.${i}.version`,
        since !== undefined && i === 0
          ? `version ${version.value} is not after since (${since.value})`
          : `versions must increase, got ${version.value} after ${previous}`,
      );
    }
    previous = version.value;
    return { event: item.event, version };
  });
}

/** The id a result must carry for what was pushed: `""` for an item without a string id (the server's answer for it). */
function idOf(sent: unknown): string {
  const id: unknown = typeof sent === 'string' ? sent : (sent as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : '';
}

function parse<TSchema extends v.GenericSchema>(schema: TSchema, json: unknown, what: string): v.InferOutput<TSchema> {
  const result = v.safeParse(schema, json);
  if (result.success) return result.output;
  const { field, message } = describeIssues(result.issues);
  throw malformed(what, field, message);
}

function malformed(what: string, field: string, message: string, cause?: unknown): SyncError {
  return new SyncError('protocol', `The server's ${what} is malformed: ${field}: ${message}`, {
    details: { field },
    ...(cause === undefined ? {} : { cause }),
  });
}
