import { sameEventContent } from '../event/canonical-json.js';
import type { Event } from '../event/event.js';
import { checkedEventJson, type EventLimits } from '../event/validate-event.js';
import { isSyncError, SyncError } from '../errors/sync-error.js';
import { CursorVersion } from '../version/cursor-version.js';
import { recordedJson, type CheckedEvents } from './checked-events.js';
import type { AppendResult } from './server-event-log.js';

/** The page size of a server log read when the caller gives none. */
export const DEFAULT_READ_LIMIT = 1000;

/** What {@link decideAppend} needs to know of the log, answered from inside the append's transaction. */
export interface AppendLookup {
  /** The stored event with this id, and its version; `undefined` when the tenant has no event with this id. */
  existing(id: string):
    | {
        /** The event as the log stored it, compared with the pushed one: same content `duplicate`, else `id_reused`. */
        readonly event: Event;
        /** The cursor it is stored at: a `duplicate`'s `version`. */
        readonly version: CursorVersion;
        /**
         * The JSON text the log stored for it, when it keeps the text: the pushed event's JSON being
         * the same text makes it a `duplicate` without reading `event` (which may then parse lazily).
         */
        readonly json?: string;
      }
    | undefined;
  /**
   * When the aggregate has an event of a client other than `clientId` after `baseVersion`: the
   * aggregate's latest version. Otherwise `undefined`.
   */
  foreignAfter(aggregateId: string, baseVersion: number, clientId: string): number | undefined;
}

/** The outcome of {@link decideAppend}: a result per event, and the events to store at their versions. */
export interface AppendDecision {
  /** One result per event of the batch, in the batch's order: what the log's `append` returns. */
  readonly results: AppendResult[];
  /** Events to store, in order, exactly as they were pushed. */
  readonly accepted: {
    /** The event, the same object that was pushed. */
    readonly event: Event;
    /** The cursor to store it at: the tenant's next after `latest`, in order, without gaps. */
    readonly version: CursorVersion;
    /** The event as JSON, as validation measured it (or as `checked` recorded it): for logs that store JSON. */
    readonly json: string;
  }[];
}

/**
 * Decides a pushed batch against a tenant's log: the rules every server log shares, so SQLite,
 * PostgreSQL and memory answer alike. Run it inside the append's transaction, with `latest` and
 * `lookup` read in that transaction, then store `accepted`.
 *
 * Of an event whose JSON is known (from `checked` or `validatedJson`), only `id`, `aggregateId` and
 * `metadata`'s `clientId`, `baseVersion` and `tenant` are read, and they must be the JSON's: the rest
 * of the event is in the JSON.
 *
 * @param latest - the tenant's latest cursor before the batch.
 * @param limits - the log's bounds on every event.
 * @param checked - the append's `options.checked`: an event it covers within `limits` is not validated
 *   again, and its recorded JSON is the `json` to store. Every other event is validated.
 * @param validatedJson - the JSON of each event, index-aligned with `events`, for a caller that
 *   validated the events itself within `limits` (with {@link appendedJson}, which also answers the
 *   invalid ones): an event with an entry is not validated again, and its entry is the `json` to store
 *   and to judge a duplicate on. An event without an entry is handled as `checked` says. For a log
 *   that validates a batch apart from deciding it, e.g. on another thread; the caller vouches for
 *   every entry, so never pass JSON that came from outside.
 */
export function decideAppend(
  tenant: string,
  events: readonly Event[],
  latest: number,
  lookup: AppendLookup,
  limits: EventLimits = {},
  checked?: CheckedEvents,
  validatedJson?: readonly (string | undefined)[],
): AppendDecision {
  const results: AppendResult[] = [];
  const accepted: { event: Event; version: CursorVersion; json: string }[] = [];
  // Earlier events of this batch by id, as the JSON that will be stored.
  const inBatch = new Map<string, { json: string; version: CursorVersion }>();
  const batchWriters = new Map<string, { clientId: string; version: number }[]>();
  const conflicted = new Map<string, number>();

  for (let index = 0; index < events.length; index++) {
    const candidate: unknown = events[index];
    const id = idOf(candidate);
    const json = validatedJson?.[index] ?? appendedJson(candidate, limits, checked);
    if (typeof json !== 'string') {
      results.push(json);
      continue;
    }
    const event = candidate as Event;
    // A duplicate is judged on what is stored: the JSON, the event as pushed (a hook such as the
    // server's `authorize` may have changed the object since it was checked).
    const earlier = inBatch.get(id);
    const logged = earlier === undefined ? lookup.existing(id) : undefined;
    if (earlier !== undefined || logged !== undefined) {
      const pushed = (): Event => JSON.parse(json) as Event;
      const same =
        earlier !== undefined
          ? earlier.json === json || sameEventContent(JSON.parse(earlier.json) as Event, pushed())
          : logged!.json === json || sameEventContent(logged!.event, pushed());
      results.push(
        same
          ? { id, status: 'duplicate', version: (earlier ?? logged)!.version }
          : {
              id,
              status: 'rejected',
              code: 'id_reused',
              reason: `Event id ${id} is already stored with other content`,
            },
      );
      continue;
    }
    const { aggregateId, metadata } = event;
    if (metadata.tenant !== undefined && metadata.tenant !== tenant) {
      // The log is the tenant's scope; an event may repeat its tenant, never name another one.
      results.push({
        id,
        status: 'rejected',
        code: 'forbidden',
        reason: `metadata.tenant is ${JSON.stringify(metadata.tenant)}, but this push writes to tenant ${JSON.stringify(tenant)}`,
      });
      continue;
    }
    const blocked = conflicted.get(aggregateId);
    if (blocked !== undefined) {
      results.push({
        id,
        status: 'conflict',
        latest: CursorVersion.of(blocked),
        reason: `An earlier event of this batch on aggregate ${aggregateId} is in conflict`,
      });
      continue;
    }
    if (metadata.baseVersion !== undefined) {
      const base = Number(metadata.baseVersion);
      const head = latest + accepted.length;
      if (base > head) {
        results.push({
          id,
          status: 'rejected',
          code: 'invalid_event',
          reason: `baseVersion ${base} is after the log's latest version ${head}`,
        });
        continue;
      }
      const foreign =
        foreignInBatch(batchWriters.get(aggregateId), base, metadata.clientId) ??
        lookup.foreignAfter(aggregateId, base, metadata.clientId);
      if (foreign !== undefined) {
        const aggregateLatest = Math.max(foreign, lastVersion(batchWriters.get(aggregateId)));
        conflicted.set(aggregateId, aggregateLatest);
        results.push({
          id,
          status: 'conflict',
          latest: CursorVersion.of(aggregateLatest),
          reason: `Another client's event landed on aggregate ${aggregateId} after version ${base}`,
        });
        continue;
      }
    }
    const version = CursorVersion.of(latest + accepted.length + 1);
    const stored: Event = event;
    accepted.push({ event: stored, version, json });
    inBatch.set(id, { json, version });
    let writers = batchWriters.get(aggregateId);
    if (!writers) batchWriters.set(aggregateId, (writers = []));
    writers.push({ clientId: metadata.clientId, version: version.value });
    results.push({ id, status: 'accepted', version });
  }
  return { results, accepted };
}

/**
 * What {@link decideAppend} makes of one pushed event before it applies its rules: the JSON it stores,
 * or the result it answers for an event that is not valid. The JSON is the record of `checked` when
 * that covers the event within `limits` (see `CheckedEvents`), else the event validated with `limits`
 * and serialised; an invalid event is answered `rejected` with code `invalid_event`, its id (`''`
 * when it has none that is a string) and the validation's message as `reason`.
 *
 * For a log that validates a batch apart from deciding it (on another thread, say): it passes each
 * valid event's JSON to `decideAppend` as `validatedJson`, and answers the invalid ones itself, at
 * their index.
 *
 * @param limits - the log's bounds on every event.
 * @param checked - the append's `options.checked`; anything but a real `CheckedEvents` covers nothing.
 * @throws whatever validation throws that is not a `SyncError` (a bug)
 *
 * @example
 * ```ts
 * const json = appendedJson(event, { maxEventBytes: 65_536 }, options.checked);
 * if (typeof json !== 'string') results[index] = json; // { id, status: 'rejected', code: 'invalid_event', reason }
 * ```
 */
export function appendedJson(
  candidate: unknown,
  limits: EventLimits = {},
  checked?: CheckedEvents,
): string | Extract<AppendResult, { status: 'rejected' }> {
  const recorded = checked === undefined ? undefined : recordedJson(checked, candidate, limits);
  if (recorded !== undefined) return recorded;
  try {
    return checkedEventJson(candidate, limits);
  } catch (error) {
    if (!isSyncError(error)) throw error;
    return { id: idOf(candidate), status: 'rejected', code: 'invalid_event', reason: error.message };
  }
}

/** Checks a tenant id: a non-empty string of at most 256 characters. */
export function checkTenant(tenant: unknown): asserts tenant is string {
  if (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > 256) {
    throw new SyncError('invalid_input', 'A tenant is a non-empty string of at most 256 characters', {
      details: { field: 'tenant' },
    });
  }
}

function idOf(candidate: unknown): string {
  const id = (candidate as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : '';
}

function foreignInBatch(
  writers: { clientId: string; version: number }[] | undefined,
  base: number,
  clientId: string,
): number | undefined {
  if (!writers) return undefined;
  const foreign = writers.some((writer) => writer.version > base && writer.clientId !== clientId);
  return foreign ? lastVersion(writers) : undefined;
}

function lastVersion(writers: { version: number }[] | undefined): number {
  return writers?.at(-1)?.version ?? 0;
}
