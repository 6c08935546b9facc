import {
  CheckedEvents,
  isSyncError,
  SyncError,
  utf8Length,
  type AppendResult,
  type Event,
  type ServerEventLog,
  type SignalOptions,
} from '@eventsync/core';
import type { PushChain } from '@eventsync/http';
import type { Authorize, Identity } from './authentication.js';
import { DEFAULT_LIMITS } from './limits.js';
import type { ChainTurn, PushChains } from './push-chains.js';

/** Options of {@link pushEvents}. */
export interface PushEventsOptions<P> extends SignalOptions {
  /** The log to append to. */
  readonly store: ServerEventLog;
  /** Who pushed: the events go to `identity.tenant`, and `authorize` sees it. */
  readonly identity: Identity<P>;
  /**
   * Decides per well-formed event whether `identity` may append it (see `SyncHandlerOptions.authorize`).
   *
   * @defaultValue every event is allowed
   */
  readonly authorize?: Authorize<P>;
  /**
   * The most bytes one event may take as JSON (UTF-8); a larger one fails the whole push.
   *
   * @defaultValue `DEFAULT_LIMITS.maxEventBytes`
   */
  readonly maxEventBytes?: number;
  /**
   * This push's place in a push chain (the body's `chain`), and the node's chains: the events are
   * checked at once, then, once the chain's earlier pushes were decided, authorized and appended,
   * with the aggregates that met a `conflict` in them answered `conflict` again (see {@link PushChains}).
   *
   * @defaultValue none: the push is decided on its own
   */
  readonly chain?: {
    /** The server node's push chains (one per handler). */
    readonly chains: PushChains;
    /** The body's `chain`: its id and this push's `seq`. */
    readonly chain: PushChain;
  };
}

/**
 * The push step of a sync server, whatever the transport: checks every pushed event once (the log
 * takes the checks rather than validating again), asks `authorize` about the well-formed ones, appends
 * those it allows in one `append`, and answers one result per pushed event, in order. A malformed
 * event is `rejected` with code `invalid_event`, a refused one `rejected` with code `forbidden` and
 * the hook's reason; the others get the log's answer. The HTTP handler and the WebSocket example use it.
 *
 * @param events - the decoded push: anything, each item checked here.
 * @throws SyncError `limit_exceeded` (`details.limit: 'maxEventBytes'`, with `eventId`) when an event
 *   is larger than `maxEventBytes`: nothing is appended. `internal` when the log answers a result
 *   count other than the events it was given. `conflict` with `details.problem` `chain_broken` or
 *   `chain_unknown` (answered `409`) for a chained push that cannot be decided in its chain's order:
 *   nothing is appended. What `authorize` or the log throw, as they throw it.
 *
 * @example
 * ```ts
 * const events = decodePushRequest(body, limits.maxEventsPerPush);
 * const results = await pushEvents(events, { store, identity, authorize, maxEventBytes: limits.maxEventBytes });
 * ```
 */
export async function pushEvents<P>(
  events: readonly unknown[],
  options: PushEventsOptions<P>,
): Promise<AppendResult[]> {
  const { store, identity, authorize, signal, chain } = options;
  let turn: ChainTurn | undefined;
  let waited = false;
  try {
    const { checked, failures } = checkEvents(events, options.maxEventBytes ?? DEFAULT_LIMITS.maxEventBytes);
    // Everything above overlaps with the chain's earlier pushes; from here on, the push is decided
    // in its turn, so that `authorize` sees the log as one request after the other would.
    if (chain) {
      waited = true;
      turn = await chain.chains.turn(identity.tenant, chain.chain, signal);
    }
    const results = new Array<AppendResult | undefined>(events.length);
    const appending: Event[] = [];
    const positions: number[] = [];
    for (let index = 0; index < events.length; index++) {
      const candidate = events[index] as Event;
      const id = idOf(candidate);
      const failure = failures[index];
      if (failure) {
        results[index] = { id, status: 'rejected', code: 'invalid_event', reason: failure.message };
        continue;
      }
      const latest = turn?.blocked.get(candidate.aggregateId);
      if (latest !== undefined) {
        results[index] = {
          id,
          status: 'conflict',
          latest,
          reason: `An earlier event of aggregate ${candidate.aggregateId} in this push chain met a conflict`,
        };
        continue;
      }
      const verdict = authorize ? await authorize(candidate, identity) : true;
      if (verdict !== true) {
        const reason = typeof verdict === 'string' && verdict !== '' ? verdict : 'Not allowed';
        results[index] = { id, status: 'rejected', code: 'forbidden', reason };
        continue;
      }
      appending.push(candidate);
      positions.push(index);
    }
    if (appending.length > 0) {
      const appended = await store.append(identity.tenant, appending, { ...(signal ? { signal } : {}), checked });
      if (appended.length !== appending.length) {
        throw new SyncError('internal', `The store answered ${appended.length} results for ${appending.length} events`);
      }
      appended.forEach((result, i) => {
        results[positions[i] as number] = result;
      });
    }
    const answered = results as AppendResult[];
    turn?.done(answered, (index) => aggregateOf(events[index]));
    return answered;
  } catch (error) {
    // A push refused before its turn breaks the chain there; one whose wait for its turn failed
    // (a repeated request, a timeout, a client gone) leaves the chain to the request holding it.
    if (turn) turn.fail();
    else if (chain && !waited) chain.chains.fail(identity.tenant, chain.chain);
    throw error;
  }
}

/**
 * Validates each event once into `checked`, and measures every event, valid or not, against
 * `maxEventBytes` (throwing for the first one past it); `failures` are the malformed events' errors.
 */
function checkEvents(
  events: readonly unknown[],
  maxEventBytes: number,
): { checked: CheckedEvents; failures: (SyncError | undefined)[] } {
  const checked = new CheckedEvents();
  const failures = new Array<SyncError | undefined>(events.length);
  for (let i = 0; i < events.length; i++) {
    const event = events[i];
    let json: string | undefined;
    try {
      // Unbounded here: the size is checked below, for every event, valid or not (and by the log).
      json = checked.check(event, UNBOUNDED_SIZE);
    } catch (error) {
      if (!isSyncError(error)) throw error;
      failures[i] = error;
    }
    json ??= JSON.stringify(event) ?? '';
    // A string's UTF-8 length is at most three times its length: count only when it matters.
    const bytes = json.length * 3 <= maxEventBytes ? json.length : utf8Length(json);
    if (bytes > maxEventBytes) {
      const id = idOf(event);
      throw new SyncError(
        'limit_exceeded',
        `Event ${id || '(without id)'} takes ${bytes} bytes as JSON, more than maxEventBytes (${maxEventBytes})`,
        { details: { limit: 'maxEventBytes', max: maxEventBytes, actual: bytes, ...(id ? { eventId: id } : {}) } },
      );
    }
  }
  return { checked, failures };
}

/** The shape bounds of `validateEvent`'s defaults, without a size bound. */
const UNBOUNDED_SIZE = { maxEventBytes: Number.POSITIVE_INFINITY };

function aggregateOf(candidate: unknown): string | undefined {
  const aggregateId = (candidate as { aggregateId?: unknown } | null)?.aggregateId;
  return typeof aggregateId === 'string' ? aggregateId : undefined;
}

function idOf(candidate: unknown): string {
  const id = (candidate as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : '';
}
