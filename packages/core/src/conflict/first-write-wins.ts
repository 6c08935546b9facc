import type { ConflictResolver } from './conflict.js';
import { compareWrites, describeEvents, describeWin, earliestWrite, readConflict } from './resolver-support.js';

/**
 * A resolver under which the earliest write wins: whoever changed the aggregate first keeps it. It compares
 * the earliest local event with the earliest remote one by their hybrid-logical-clock timestamps
 * (`metadata.timestamp`), and by event id, lower wins, when the timestamps are equal.
 *
 * - The local side is earlier: `keep_local`, the local events are pushed again after the remote ones.
 * - The remote side is earlier: `keep_remote`, the local events are dropped.
 *
 * Suits claims and reservations ("first to book the seat gets it").
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const result = await firstWriteWins().resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.decision; // 'keep_local'
 * result.reasons;
 * // ['local event 01J…A at 2026-11-24T18:40:15.123Z-00000000-phone-1 is earlier than
 * //   remote event 01J…B at 2026-11-24T18:40:16.000Z-00000000-laptop',
 * //  '1 local event (01J…A) pushed again']
 * ```
 */
export function firstWriteWins(): ConflictResolver {
  return {
    resolve(conflict, context) {
      const sides = readConflict(conflict, context);
      const local = earliestWrite(sides.local);
      const remote = earliestWrite(sides.remote);
      if (compareWrites(local, remote) < 0) {
        return {
          resolvedEvents: [...conflict.local],
          decision: 'keep_local',
          reasons: [describeWin(local, remote, 'earlier'), `${describeEvents('local', conflict.local)} pushed again`],
        };
      }
      return {
        resolvedEvents: [],
        decision: 'keep_remote',
        reasons: [describeWin(remote, local, 'earlier'), `${describeEvents('local', conflict.local)} dropped`],
      };
    },
  };
}
