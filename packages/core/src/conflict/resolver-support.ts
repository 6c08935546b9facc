// Shared by the built-in resolvers; not exported from the package.
import { SyncError } from '../errors/sync-error.js';
import type { Event } from '../event/event.js';
import { throwIfAborted } from '../internal/abort.js';
import { describeValue } from '../internal/describe.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import type { Conflict, ConflictResolver, ResolveContext, ResolvedConflict } from './conflict.js';

/** An event of one side of a conflict with its parsed timestamp. */
export interface Write {
  readonly side: 'local' | 'remote';
  readonly event: Event;
  readonly timestamp: HlcTimestamp;
}

/** Both sides of a checked conflict, with parsed timestamps, in the conflict's order. */
export interface ConflictSides {
  readonly local: readonly Write[];
  readonly remote: readonly Write[];
}

/** A `SyncError('invalid_input')` naming the field at fault. */
export function invalidInput(field: string, message: string): SyncError {
  return new SyncError('invalid_input', message, { details: { field } });
}

/**
 * Checks the context and the conflict a resolver was given and parses every timestamp, so a resolver
 * never decides on a malformed conflict. Throws the signal's reason first when it has fired.
 */
export function readConflict(conflict: unknown, context: unknown): ConflictSides {
  checkContext(context);
  throwIfAborted(context.signal);
  return checkConflict(conflict);
}

/** Checks a `ResolveContext`: an object with `createEvent` and, optionally, an `AbortSignal`. */
export function checkContext(context: unknown): asserts context is ResolveContext {
  if (context === null || typeof context !== 'object') {
    throw invalidInput('context', `A resolver needs a context object, got ${describeValue(context)}`);
  }
  const { createEvent, signal } = context as Partial<ResolveContext>;
  if (typeof createEvent !== 'function') {
    throw invalidInput(
      'context.createEvent',
      `context.createEvent must be a function, got ${describeValue(createEvent)}`,
    );
  }
  if (signal !== undefined && (signal === null || typeof (signal as { aborted?: unknown }).aborted !== 'boolean')) {
    throw invalidInput('context.signal', `context.signal must be an AbortSignal, got ${describeValue(signal)}`);
  }
}

/** Checks the shape of a conflict and parses its timestamps. */
export function checkConflict(conflict: unknown): ConflictSides {
  if (conflict === null || typeof conflict !== 'object') {
    throw invalidInput('conflict', `A conflict must be an object, got ${describeValue(conflict)}`);
  }
  const { aggregateId, eventType, changedFields, metadata, local, remote } = conflict as Record<
    keyof Conflict,
    unknown
  >;
  if (typeof aggregateId !== 'string' || aggregateId.length === 0) {
    throw invalidInput(
      'conflict.aggregateId',
      `conflict.aggregateId must be a non-empty string, got ${describeValue(aggregateId)}`,
    );
  }
  if (typeof eventType !== 'string') {
    throw invalidInput('conflict.eventType', `conflict.eventType must be a string, got ${describeValue(eventType)}`);
  }
  if (!Array.isArray(changedFields) || !changedFields.every((field) => typeof field === 'string')) {
    throw invalidInput('conflict.changedFields', 'conflict.changedFields must be an array of strings');
  }
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw invalidInput('conflict.metadata', `conflict.metadata must be an object, got ${describeValue(metadata)}`);
  }
  if (!Array.isArray(local) || local.length === 0) {
    throw invalidInput(
      'conflict.local',
      'conflict.local must be a non-empty array of events: a conflict is about pending local events',
    );
  }
  if (!Array.isArray(remote) || remote.length === 0) {
    throw invalidInput(
      'conflict.remote',
      'conflict.remote must be a non-empty array of versioned events: without remote events there is no conflict',
    );
  }
  const seen = new Set<string>();
  const localWrites = local.map((event: unknown, index) =>
    checkWrite('local', event, `conflict.local[${index}]`, aggregateId, seen),
  );
  const remoteWrites = remote.map((versioned: unknown, index) => {
    const field = `conflict.remote[${index}]`;
    if (versioned === null || typeof versioned !== 'object' || !('event' in versioned) || !('version' in versioned)) {
      throw invalidInput(
        field,
        `${field} must be a versioned event ({ event, version }), got ${describeValue(versioned)}`,
      );
    }
    return checkWrite('remote', versioned.event, `${field}.event`, aggregateId, seen);
  });
  return { local: localWrites, remote: remoteWrites };
}

function checkWrite(side: Write['side'], event: unknown, field: string, aggregateId: string, seen: Set<string>): Write {
  if (event === null || typeof event !== 'object') {
    throw invalidInput(field, `${field} must be an event, got ${describeValue(event)}`);
  }
  const { id, type, metadata } = event as Partial<Event>;
  if (typeof id !== 'string' || id.length === 0) {
    throw invalidInput(`${field}.id`, `${field}.id must be a non-empty string, got ${describeValue(id)}`);
  }
  if (seen.has(id)) {
    throw invalidInput(`${field}.id`, `Event ${id} appears twice in the conflict (local and remote ids are distinct)`);
  }
  seen.add(id);
  if (typeof type !== 'string' || type.length === 0) {
    throw invalidInput(`${field}.type`, `${field}.type must be a non-empty string, got ${describeValue(type)}`);
  }
  const eventAggregate = (event as Partial<Event>).aggregateId;
  if (eventAggregate !== aggregateId) {
    throw invalidInput(
      `${field}.aggregateId`,
      `${side} event ${id} is on aggregate ${describeValue(eventAggregate)}, not the conflict's ${JSON.stringify(aggregateId)}`,
    );
  }
  if (metadata === null || typeof metadata !== 'object') {
    throw invalidInput(`${field}.metadata`, `${field}.metadata must be an object, got ${describeValue(metadata)}`);
  }
  let timestamp: HlcTimestamp;
  try {
    timestamp = HlcTimestamp.parse(metadata.timestamp);
  } catch (error) {
    throw new SyncError('invalid_input', `${side} event ${id} has a malformed timestamp`, {
      cause: error,
      details: { field: `${field}.metadata.timestamp` },
    });
  }
  return { side, event: event as Event, timestamp };
}

/** Orders writes by HLC timestamp, then by event id: the same order on every replica. */
export function compareWrites(a: Write, b: Write): -1 | 0 | 1 {
  const byTime = a.timestamp.compare(b.timestamp);
  if (byTime !== 0) return byTime;
  if (a.event.id === b.event.id) return 0;
  return a.event.id < b.event.id ? -1 : 1;
}

/** The latest of some writes (HLC, then id). */
export function latestWrite(writes: readonly Write[]): Write {
  return writes.reduce((latest, write) => (compareWrites(write, latest) > 0 ? write : latest));
}

/** The earliest of some writes (HLC, then id). */
export function earliestWrite(writes: readonly Write[]): Write {
  return writes.reduce((earliest, write) => (compareWrites(write, earliest) < 0 ? write : earliest));
}

/** `local event 01H… at 2026-…Z-00000000-phone`: how reasons name a write. */
export function describeWrite(write: Write): string {
  return `${write.side} event ${write.event.id} at ${write.timestamp.toString()}`;
}

/** Why `winner` beats `loser` (`winner` is later or earlier, as `order` says, or wins a tie by id). */
export function describeWin(winner: Write, loser: Write, order: 'later' | 'earlier'): string {
  if (winner.timestamp.equals(loser.timestamp)) {
    const higher = order === 'later' ? 'higher' : 'lower';
    return (
      `${winner.side} event ${winner.event.id} and ${loser.side} event ${loser.event.id} have the same timestamp ` +
      `${winner.timestamp.toString()}; the ${higher} id, ${winner.side} event ${winner.event.id}, wins`
    );
  }
  return `${describeWrite(winner)} is ${order} than ${describeWrite(loser)}`;
}

const LISTED_IDS = 10;

/** `2 local events (01H…, 01H…)`, listing at most ten ids. */
export function describeEvents(side: Write['side'], events: readonly { readonly id: string }[]): string {
  const ids = events.slice(0, LISTED_IDS).map((event) => event.id);
  const more = events.length > LISTED_IDS ? `, and ${events.length - LISTED_IDS} more` : '';
  const noun = events.length === 1 ? 'event' : 'events';
  return `${events.length} ${side} ${noun} (${ids.join(', ')}${more})`;
}

/** Checks a resolver given as an option or a rule. */
export function checkResolver(value: unknown, field: string): asserts value is ConflictResolver {
  if (
    value === null ||
    typeof value !== 'object' ||
    typeof (value as Partial<ConflictResolver>).resolve !== 'function'
  ) {
    throw invalidInput(
      field,
      `${field} must be a conflict resolver (an object with resolve()), got ${describeValue(value)}`,
    );
  }
}

/** Checks what a delegated resolver returned, so a broken custom resolver fails where it is called. */
export function checkResolved(value: unknown, who: string): ResolvedConflict {
  if (value === null || typeof value !== 'object') {
    throw invalidInput(who, `${who} returned ${describeValue(value)}, not a resolved conflict`);
  }
  const { resolvedEvents, decision, reasons } = value as Partial<ResolvedConflict>;
  if (!Array.isArray(resolvedEvents)) {
    throw invalidInput(`${who}.resolvedEvents`, `${who} returned resolvedEvents that are not an array`);
  }
  if (typeof decision !== 'string' || decision.length === 0) {
    throw invalidInput(`${who}.decision`, `${who} returned a decision that is not a non-empty string`);
  }
  if (!Array.isArray(reasons) || !reasons.every((reason) => typeof reason === 'string')) {
    throw invalidInput(`${who}.reasons`, `${who} returned reasons that are not an array of strings`);
  }
  return value as ResolvedConflict;
}

/**
 * Calls a delegate resolver and hands its checked result to `finish`: synchronously when the delegate
 * answers synchronously, otherwise after awaiting it, with the signal checked before and after.
 */
export function delegate(
  resolver: ConflictResolver,
  conflict: Conflict,
  context: ResolveContext,
  who: string,
  finish: (result: ResolvedConflict) => ResolvedConflict,
): ResolvedConflict | Promise<ResolvedConflict> {
  throwIfAborted(context.signal);
  const result = resolver.resolve(conflict, context);
  if (!isThenable(result)) return finish(checkResolved(result, who));
  return Promise.resolve(result).then((settled) => {
    throwIfAborted(context.signal);
    return finish(checkResolved(settled, who));
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && typeof value === 'object' && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** The same result with every reason prefixed and `leading` reasons (already prefixed) first. */
export function withPrefix(
  result: ResolvedConflict,
  prefix: string,
  leading: readonly string[] = [],
): ResolvedConflict {
  return {
    resolvedEvents: result.resolvedEvents,
    decision: result.decision,
    reasons: [...leading, ...result.reasons.map((reason) => `${prefix}: ${reason}`)],
  };
}
