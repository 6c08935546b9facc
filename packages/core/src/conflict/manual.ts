import { describeValue } from '../internal/describe.js';
import type { ConflictResolver } from './conflict.js';
import { describeEvents, invalidInput, readConflict } from './resolver-support.js';

/** Options of {@link manual}. */
export interface ManualOptions {
  /**
   * The first reason recorded, e.g. what the person deciding should look at.
   *
   * @defaultValue `'waiting for a decision'`
   */
  readonly reason?: string;
}

/** The defaults of {@link ManualOptions}. */
export const DEFAULT_MANUAL_OPTIONS: Required<ManualOptions> = { reason: 'waiting for a decision' };

/**
 * A resolver that decides nothing: it parks the conflict in the conflict inbox for the application to
 * decide later (decision `park`). The local events come back untouched in `resolvedEvents`; the sync
 * manager keeps them out of the push until the application decides, for instance with
 * {@link resolveParked}.
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const parked = await manual({ reason: 'two people renamed the same list' })
 *   .resolve(conflict, { createEvent: (input) => events.create(input) });
 * parked.decision; // 'park'
 * parked.reasons;
 * // ['two people renamed the same list',
 * //  '1 local event (01J…) parked against 1 remote event (01J…) on aggregate "list-7"']
 *
 * // Later, when the person has chosen:
 * const resolved = resolveParked(conflict, 'keep_remote');
 * ```
 */
export function manual(options: ManualOptions = {}): ConflictResolver {
  if (options === null || typeof options !== 'object') {
    throw invalidInput('options', `manual options must be an object, got ${describeValue(options)}`);
  }
  const reason = options.reason ?? DEFAULT_MANUAL_OPTIONS.reason;
  if (typeof reason !== 'string' || reason.length === 0) {
    throw invalidInput('options.reason', `options.reason must be a non-empty string, got ${describeValue(reason)}`);
  }

  return {
    resolve(conflict, context) {
      const sides = readConflict(conflict, context);
      return {
        resolvedEvents: [...conflict.local],
        decision: 'park',
        reasons: [
          reason,
          `${describeEvents('local', conflict.local)} parked against ` +
            `${describeEvents(
              'remote',
              sides.remote.map((write) => write.event),
            )} on aggregate ${JSON.stringify(conflict.aggregateId)}`,
        ],
      };
    },
  };
}
