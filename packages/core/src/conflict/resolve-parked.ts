import { isSyncError, SyncError } from '../errors/sync-error.js';
import type { Event } from '../event/event.js';
import { validateEvent } from '../event/validate-event.js';
import { describeValue } from '../internal/describe.js';
import type { Conflict, ConflictDecision, ResolvedConflict } from './conflict.js';
import { checkConflict, describeEvents, invalidInput } from './resolver-support.js';

/**
 * What the application chose for a parked conflict:
 *
 * - `'keep_local'`: push the parked local events as they are;
 * - `'keep_remote'`: drop them;
 * - `{ events, reasons?, decision? }`: push these events instead (e.g. made with `EventFactory` from what
 *   a person typed into a merge dialog); `decision` defaults to `'merge'`.
 */
export type ParkedChoice =
  | 'keep_local'
  | 'keep_remote'
  | {
      /** The events to push instead of the parked ones, on the conflict's aggregate; may be empty. */
      readonly events: readonly Event[];
      /** Why, for the record. @defaultValue one reason naming the events */
      readonly reasons?: readonly string[];
      /** The decision recorded. @defaultValue `'merge'` */
      readonly decision?: ConflictDecision;
    };

/**
 * Turns the application's later choice for a parked conflict (see {@link manual}) into the
 * `ResolvedConflict` the sync manager applies, as if a resolver had decided it then.
 *
 * @throws SyncError `invalid_input` for a malformed conflict or choice, or events on another aggregate.
 *
 * @example
 * ```ts
 * // In the app's conflict inbox, when the person picks "keep mine":
 * const resolved = resolveParked(record.conflict, 'keep_local');
 * // { decision: 'keep_local', resolvedEvents: record.conflict.local,
 * //   reasons: ['decided later: 1 local event (01J…) pushed again'] }
 *
 * // Or with a title the person typed:
 * const merged = events.create({ type: 'list.renamed', aggregateId: 'list-7', data: { title: 'Groceries' } });
 * resolveParked(record.conflict, { events: [merged], reasons: ['Ana merged both titles'] });
 * ```
 */
export function resolveParked(conflict: Conflict, choice: ParkedChoice): ResolvedConflict {
  checkConflict(conflict);
  if (choice === 'keep_local') {
    return {
      resolvedEvents: [...conflict.local],
      decision: 'keep_local',
      reasons: [`decided later: ${describeEvents('local', conflict.local)} pushed again`],
    };
  }
  if (choice === 'keep_remote') {
    return {
      resolvedEvents: [],
      decision: 'keep_remote',
      reasons: [`decided later: ${describeEvents('local', conflict.local)} dropped`],
    };
  }
  if (choice === null || typeof choice !== 'object') {
    throw invalidInput(
      'choice',
      `choice must be 'keep_local', 'keep_remote' or { events, reasons? }, got ${describeValue(choice)}`,
    );
  }
  const { reasons, decision = 'merge' } = choice;
  const given: unknown = choice.events;
  if (!Array.isArray(given)) {
    throw invalidInput('choice.events', `choice.events must be an array of events, got ${describeValue(given)}`);
  }
  const events = given as unknown[];
  events.forEach((event, index) => {
    try {
      validateEvent(event);
    } catch (error) {
      if (!isSyncError(error)) throw error;
      throw new SyncError(error.code, `choice.events[${index}] is not a valid event: ${error.message}`, {
        cause: error,
        details: {
          ...error.details,
          field: `choice.events[${index}]${error.details.field ? `.${error.details.field}` : ''}`,
        },
      });
    }
    if (event.aggregateId !== conflict.aggregateId) {
      throw invalidInput(
        `choice.events[${index}].aggregateId`,
        `choice.events[${index}] is on aggregate ${JSON.stringify(event.aggregateId)}, not the conflict's ${JSON.stringify(conflict.aggregateId)}`,
      );
    }
  });
  if (reasons !== undefined && (!Array.isArray(reasons) || !reasons.every((reason) => typeof reason === 'string'))) {
    throw invalidInput('choice.reasons', 'choice.reasons must be an array of strings');
  }
  if (typeof decision !== 'string' || decision.length === 0) {
    throw invalidInput('choice.decision', `choice.decision must be a non-empty string, got ${describeValue(decision)}`);
  }
  return {
    resolvedEvents: events.slice() as Event[],
    decision,
    reasons: reasons ?? [
      `decided later: ${describeEvents('local', conflict.local)} replaced by ${events.length} new ${events.length === 1 ? 'event' : 'events'}`,
    ],
  };
}
