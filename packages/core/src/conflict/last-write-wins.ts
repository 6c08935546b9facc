import type { ConflictResolver } from './conflict.js';
import { compareWrites, describeEvents, describeWin, latestWrite, readConflict } from './resolver-support.js';

/**
 * A resolver under which the latest write wins. It compares the latest local event with the latest remote
 * one by their hybrid-logical-clock timestamps (`metadata.timestamp`), and by event id, higher wins, when
 * the timestamps are equal, so every replica picks the same winner whatever its wall clock says.
 *
 * - The local side is later: `keep_local`, the local events are pushed again after the remote ones.
 * - The remote side is later: `keep_remote`, the local events are dropped.
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const result = await lastWriteWins().resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.decision; // 'keep_remote'
 * result.reasons;
 * // ['remote event 01J…B at 2026-11-24T18:40:16.000Z-00000000-laptop is later than
 * //   local event 01J…A at 2026-11-24T18:40:15.123Z-00000000-phone-1',
 * //  '1 local event (01J…A) dropped']
 * ```
 */
export function lastWriteWins(): ConflictResolver {
  return {
    resolve(conflict, context) {
      const sides = readConflict(conflict, context);
      const local = latestWrite(sides.local);
      const remote = latestWrite(sides.remote);
      if (compareWrites(local, remote) > 0) {
        return {
          resolvedEvents: [...conflict.local],
          decision: 'keep_local',
          reasons: [describeWin(local, remote, 'later'), `${describeEvents('local', conflict.local)} pushed again`],
        };
      }
      return {
        resolvedEvents: [],
        decision: 'keep_remote',
        reasons: [describeWin(remote, local, 'later'), `${describeEvents('local', conflict.local)} dropped`],
      };
    },
  };
}
