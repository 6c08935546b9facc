import type { ConflictResolver } from './conflict.js';
import { describeEvents, readConflict } from './resolver-support.js';

/**
 * A resolver under which this client's events always win: the local events are pushed again, unchanged,
 * on top of the remote ones (decision `keep_local`). The remote events still stand in the server log; the
 * local ones come after them, so their data is what projections end with.
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const result = await localWins().resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.decision; // 'keep_local'
 * result.resolvedEvents; // conflict.local
 * result.reasons; // ['local wins: 1 local event (01J…) pushed again after 1 remote event (01J…)']
 * ```
 */
export function localWins(): ConflictResolver {
  return {
    resolve(conflict, context) {
      const sides = readConflict(conflict, context);
      return {
        resolvedEvents: [...conflict.local],
        decision: 'keep_local',
        reasons: [
          `local wins: ${describeEvents('local', conflict.local)} pushed again after ` +
            `${describeEvents(
              'remote',
              sides.remote.map((write) => write.event),
            )}`,
        ],
      };
    },
  };
}
