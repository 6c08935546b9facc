import { monotonicFactory, type ULIDFactory } from 'ulid';
import { SyncError } from '../errors/sync-error.js';
import { HybridLogicalClock } from '../version/hybrid-logical-clock.js';
import type { Event, EventMetadata, JsonValue } from './event.js';
import { DEFAULT_EVENT_LIMITS, type EventLimits, validateEvent } from './validate-event.js';

/** What the application says about an event; the factory adds the id, timestamp and client id. */
export interface EventInput<TData extends JsonValue = JsonValue> {
  /** What happened, e.g. `todo.added`: the event's `type`. Non-empty, at most `maxTypeLength` characters. */
  readonly type: string;
  /**
   * The entity the event is about: the event's `aggregateId`. Non-empty, at most `maxAggregateIdLength`
   * characters.
   */
  readonly aggregateId: string;
  /**
   * The payload, JSON only (nested at most `maxDepth` deep); the event gets a copy, so changing this
   * object later changes nothing.
   */
  readonly data: TData;
  /** Extra metadata: `baseVersion`, `schemaVersion`, `tenant`, or keys of the application's own. */
  readonly metadata?: Partial<Omit<EventMetadata, 'timestamp' | 'clientId'>>;
}

/** Options of {@link EventFactory}. */
export interface EventFactoryOptions {
  /** The id of this client, stamped into every event and its HLC timestamps. Required. */
  readonly clientId: string;
  /**
   * The clock that stamps events; share it with whatever receives remote events so local timestamps
   * stay after everything seen.
   *
   * @defaultValue a new `HybridLogicalClock` on `Date.now`
   */
  readonly clock?: HybridLogicalClock;
  /**
   * Bounds checked on every event created.
   *
   * @defaultValue {@link DEFAULT_EVENT_LIMITS}
   */
  readonly limits?: EventLimits;
}

/**
 * Makes well-formed events: a monotonic ULID id, an HLC timestamp and the client id, with the shape
 * checked and the data copied, so a caller mutating its object later changes nothing.
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const added = events.create({ type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } });
 * ```
 */
export class EventFactory {
  /** The client id stamped into every event's `metadata.clientId`. */
  readonly clientId: string;
  /** The clock that stamps events; its node is `clientId`. */
  readonly clock: HybridLogicalClock;
  /** The bounds every event is checked against: the options' `limits` over {@link DEFAULT_EVENT_LIMITS}. */
  readonly limits: Required<EventLimits>;
  readonly #nextId: ULIDFactory;

  /** @throws SyncError `invalid_input` for a bad client id, or a clock of another node. */
  constructor(options: EventFactoryOptions) {
    this.clientId = options.clientId;
    this.clock = options.clock ?? new HybridLogicalClock({ node: options.clientId });
    if (this.clock.node !== options.clientId) {
      throw new SyncError(
        'invalid_input',
        `The clock's node (${this.clock.node}) must be the client id (${options.clientId})`,
        { details: { field: 'clock' } },
      );
    }
    this.limits = { ...DEFAULT_EVENT_LIMITS, ...options.limits };
    this.#nextId = monotonicFactory();
  }

  /**
   * A new event from `input`.
   *
   * @throws SyncError `invalid_input` or `limit_exceeded` when the event would be malformed.
   */
  create<TData extends JsonValue>(input: EventInput<TData>): Event<TData> {
    const timestamp = this.clock.now();
    // Absent keys may be given as undefined; everything else is validated before it is copied, so a
    // value JSON would change (NaN, a Date) or refuse (a bigint, a cycle) is an error, not a surprise.
    const given = Object.entries(input.metadata ?? {}).filter(([, value]) => value !== undefined);
    const metadata = { ...Object.fromEntries(given), timestamp: timestamp.toString(), clientId: this.clientId };
    const event = {
      id: this.#nextId(timestamp.wallTime),
      type: input.type,
      aggregateId: input.aggregateId,
      data: input.data,
      metadata,
    };
    validateEvent(event, this.limits);
    return { ...event, data: copyJson(input.data), metadata: copyJson(metadata) };
  }
}

// A JSON round trip: a deep copy whose `__proto__` keys stay plain data.
function copyJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
