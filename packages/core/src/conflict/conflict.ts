import type { EventInput } from '../event/event-factory.js';
import type { Event, JsonValue, VersionedEvent } from '../event/event.js';
import type { SignalOptions } from '../internal/abort.js';

/**
 * Concurrent edits of one aggregate: this client's pending events and the events other clients got
 * into the server log first. Domain-agnostic: resolvers see types, fields and metadata.
 */
export interface Conflict {
  /** The aggregate both sides changed. */
  readonly aggregateId: string;
  /** The type of the first local event (the one the server would have refused). */
  readonly eventType: string;
  /** The top-level `data` fields that both sides changed (empty when the data are not objects). */
  readonly changedFields: readonly string[];
  /** Context for resolvers and rules; free-form JSON. */
  readonly metadata: Readonly<Record<string, JsonValue>>;
  /** This client's pending events on the aggregate, in local order. */
  readonly local: readonly Event[];
  /** The other clients' events on the aggregate that this client had not seen, in server order. */
  readonly remote: readonly VersionedEvent[];
}

/**
 * Well-known decisions of the built-in resolvers; custom resolvers may use their own words.
 *
 * - `keep_remote`: the local events are dropped; the remote ones stand.
 * - `keep_local`: the local events are pushed again on top of the remote ones.
 * - `merge`: new local events combine both sides.
 * - `keep_both`: both sides stand (commutative events).
 * - `park`: nothing is decided yet; the conflict waits in the inbox.
 */
export type ConflictDecision = 'keep_remote' | 'keep_local' | 'merge' | 'keep_both' | 'park' | (string & {});

/**
 * What a resolver decided. Remote events are never dropped: they are in the server log already.
 * `resolvedEvents` replace the conflicting local events in the outbox and are pushed again.
 */
export interface ResolvedConflict {
  /** The local events to push instead of the conflicting ones (none, some, or new ones). */
  readonly resolvedEvents: readonly Event[];
  /** What was decided; see {@link ConflictDecision}. */
  readonly decision: ConflictDecision;
  /** Why, in words a person can read in a log or an inbox. */
  readonly reasons: readonly string[];
}

/** What a resolver gets besides the conflict: a way to make new events, and the caller's signal. */
export interface ResolveContext extends SignalOptions {
  /**
   * Makes a new local event (a fresh id and timestamp, this client's id), e.g. the merge of both
   * sides. The sync manager sets its `baseVersion` when it rebases.
   */
  createEvent(input: EventInput): Event;
}

/**
 * A strategy that decides a conflict (go-sync-kit's `ConflictResolver`). Resolvers are pure decisions:
 * they read the conflict and return what to push; the sync manager applies the decision atomically,
 * records it, and publishes it.
 */
export interface ConflictResolver {
  /**
   * Decides `conflict`, at once or asynchronously. `context.signal` aborts when the sync it runs in
   * is aborted. A resolver that throws, or returns something that is not a {@link ResolvedConflict},
   * fails the sync; the conflict stays undecided and is found again by the next sync.
   *
   * @returns the decision: the events to push instead of `conflict.local`, its name and its reasons.
   */
  resolve(conflict: Conflict, context: ResolveContext): ResolvedConflict | Promise<ResolvedConflict>;
}
