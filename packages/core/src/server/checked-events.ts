import type { Event } from '../event/event.js';
import { checkedEventJson, DEFAULT_EVENT_LIMITS, utf8Length, type EventLimits } from '../event/validate-event.js';

/** Reads a real `CheckedEvents`' records; set by the class itself, so nothing else can stand in for it. */
let recorded: (checked: CheckedEvents, event: unknown, limits: EventLimits) => string | undefined;

/** What one check saw: the JSON it made, the shape bounds it applied, and the fields a log decides on. */
interface Check {
  readonly json: string;
  readonly maxTypeLength: number;
  readonly maxAggregateIdLength: number;
  readonly maxDepth: number;
  readonly id: unknown;
  readonly type: unknown;
  readonly aggregateId: unknown;
  readonly metadata: unknown;
  readonly clientId: unknown;
  readonly baseVersion: unknown;
  readonly tenant: unknown;
}

/**
 * Events validated once, each with the JSON its check made, so that a server log can take them
 * without validating and serialising them again: a sync server checks every pushed event before
 * `authorize` sees it, then passes the same `CheckedEvents` to {@link ServerEventLog.append} as
 * `options.checked`.
 *
 * The only way to record an event is {@link CheckedEvents.check}, which validates it, so a
 * `CheckedEvents` can never vouch for an event that was not checked. A log uses a check only for the
 * very object that was checked, only when the check's bounds are at least as strict as its own (the
 * size is measured again against the log's `maxEventBytes`), and only while the fields it decides on
 * (`id`, `type`, `aggregateId`, `metadata` and its `clientId`, `baseVersion`, `tenant`) are those the
 * check saw; any other event is validated as usual. What the log stores is the JSON the check made:
 * the event as it was pushed.
 *
 * @example
 * ```ts
 * const checked = new CheckedEvents();
 * const valid = events.filter((event) => {
 *   try {
 *     checked.check(event);
 *     return true;
 *   } catch {
 *     return false;
 *   }
 * });
 * const results = await log.append('acme', valid, { checked });
 * ```
 */
export class CheckedEvents {
  readonly #checks = new Map<unknown, Check>();

  static {
    recorded = (checked, event, limits) => (#checks in checked ? checked.#recorded(event, limits) : undefined);
  }

  /** How many events were checked and recorded. */
  get size(): number {
    return this.#checks.size;
  }

  /**
   * Validates `event` as `validateEvent` does and records it with its JSON.
   *
   * @param limits - the bounds to check; an unbounded `maxEventBytes` (`Infinity`) leaves the size
   *   to whoever reads the JSON (a log measures it against its own bound).
   * @returns the event's JSON (`JSON.stringify` of it).
   * @throws SyncError `invalid_input` or `limit_exceeded` as `validateEvent` does; nothing is recorded then.
   */
  check(event: unknown, limits: EventLimits = {}): string {
    const json = checkedEventJson(event, limits);
    const { id, type, aggregateId, metadata } = event as Event;
    this.#checks.set(event, {
      json,
      maxTypeLength: limits.maxTypeLength ?? DEFAULT_EVENT_LIMITS.maxTypeLength,
      maxAggregateIdLength: limits.maxAggregateIdLength ?? DEFAULT_EVENT_LIMITS.maxAggregateIdLength,
      maxDepth: limits.maxDepth ?? DEFAULT_EVENT_LIMITS.maxDepth,
      id,
      type,
      aggregateId,
      metadata,
      clientId: metadata.clientId,
      baseVersion: metadata.baseVersion,
      tenant: metadata.tenant,
    });
    return json;
  }

  /**
   * The JSON recorded for this very `event` when its check covers `limits`: the check's shape bounds
   * are at least as strict, the JSON fits `limits.maxEventBytes`, and the fields a log decides on are
   * unchanged since. `undefined` otherwise: the event must then be validated as usual.
   */
  jsonFor(event: unknown, limits: EventLimits = {}): string | undefined {
    return this.#recorded(event, limits);
  }

  #recorded(event: unknown, limits: EventLimits): string | undefined {
    const check = this.#checks.get(event);
    if (check === undefined) return undefined;
    if (
      check.maxTypeLength > (limits.maxTypeLength ?? DEFAULT_EVENT_LIMITS.maxTypeLength) ||
      check.maxAggregateIdLength > (limits.maxAggregateIdLength ?? DEFAULT_EVENT_LIMITS.maxAggregateIdLength) ||
      check.maxDepth > (limits.maxDepth ?? DEFAULT_EVENT_LIMITS.maxDepth)
    ) {
      return undefined;
    }
    const { id, type, aggregateId, metadata } = event as Event;
    if (
      id !== check.id ||
      type !== check.type ||
      aggregateId !== check.aggregateId ||
      metadata !== check.metadata ||
      metadata.clientId !== check.clientId ||
      metadata.baseVersion !== check.baseVersion ||
      metadata.tenant !== check.tenant
    ) {
      return undefined;
    }
    const { json } = check;
    const maxEventBytes = limits.maxEventBytes ?? DEFAULT_EVENT_LIMITS.maxEventBytes;
    // A string's UTF-8 length is at least its length and at most three times it: count only when it matters.
    if (json.length * 3 > maxEventBytes && utf8Length(json) > maxEventBytes) return undefined;
    return json;
  }
}

/**
 * {@link CheckedEvents.jsonFor} of `checked` when it is a real `CheckedEvents` (made by its
 * constructor, whatever its methods were replaced with), `undefined` for anything else: what a log
 * trusts, so that no look-alike object can spare an event its validation.
 */
export function recordedJson(checked: unknown, event: unknown, limits: EventLimits): string | undefined {
  return typeof checked === 'object' && checked !== null
    ? recorded(checked as CheckedEvents, event, limits)
    : undefined;
}
