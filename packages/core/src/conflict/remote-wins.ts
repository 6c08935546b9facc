import type { ConflictResolver } from './conflict.js';
import { describeEvents, readConflict } from './resolver-support.js';

/**
 * A resolver under which the other clients' events always win: the local events of the aggregate are
 * dropped (decision `keep_remote`, no events to push). The remote events stand as the server ordered them.
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const result = await remoteWins().resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.decision; // 'keep_remote'
 * result.resolvedEvents; // []
 * result.reasons; // ['remote wins: 1 local event (01J…) dropped; 2 remote events (01J…, 01J…) stand']
 * ```
 */
export function remoteWins(): ConflictResolver {
  return {
    resolve(conflict, context) {
      const remote = readConflict(conflict, context).remote.map((write) => write.event);
      const verb = remote.length === 1 ? 'stands' : 'stand';
      return {
        resolvedEvents: [],
        decision: 'keep_remote',
        reasons: [
          `remote wins: ${describeEvents('local', conflict.local)} dropped; ${describeEvents('remote', remote)} ${verb}`,
        ],
      };
    },
  };
}
