import type { Event, JsonValue } from '../event/event.js';
import { describeValue } from '../internal/describe.js';
import type { ConflictResolver } from './conflict.js';
import { lastWriteWins } from './last-write-wins.js';
import {
  checkResolver,
  compareWrites,
  delegate,
  describeEvents,
  describeWin,
  describeWrite,
  invalidInput,
  latestWrite,
  readConflict,
  withPrefix,
  type Write,
} from './resolver-support.js';

/** Options of {@link fieldMerge}. */
export interface FieldMergeOptions {
  /**
   * Decides the conflicts whose events do not all carry objects of fields as data (a string, an array,
   * `null`); its reasons come prefixed with `fallback: `.
   *
   * @defaultValue `lastWriteWins()`
   */
  readonly fallback?: ConflictResolver;
}

/** The defaults of {@link FieldMergeOptions}. */
export const DEFAULT_FIELD_MERGE_OPTIONS: Required<FieldMergeOptions> = { fallback: lastWriteWins() };

/**
 * A resolver that merges field by field, for events whose data are objects of fields that they set.
 *
 * For each top-level field the local events changed, the local value stands unless a remote event also
 * changed that field with a later hybrid-logical-clock timestamp (equal timestamps: the higher event id
 * wins). Then:
 *
 * - the local side won no field: `keep_remote`, the local events are dropped;
 * - the remote events changed none of the local fields: `keep_local`, the local events are pushed again
 *   (also when the local events changed no field at all);
 * - otherwise: `merge`, one new event replaces the local events. It has the type and the application's
 *   metadata of the latest local event, and as data only the fields the local side won, with their
 *   latest local values.
 *
 * The reasons say what became of each field. Keys such as `__proto__` are plain fields.
 *
 * @example
 * ```ts
 * // Local: todo.edited { title: 'Oat milk', done: true }; remote, later: todo.edited { title: 'Soy milk' }
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const result = await fieldMerge().resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.decision; // 'merge'
 * result.resolvedEvents; // [{ type: 'todo.edited', data: { done: true }, … }]
 * result.reasons;
 * // ['merged: new todo.edited event 01J… carries the 1 field the local side won (done); 1 local event (01J…) replaced',
 * //  'field "done": only the local side changed it (local event 01J… at …); local value kept',
 * //  'field "title": remote event 01J… at … is later than local event 01J… at …; remote value kept']
 * ```
 */
export function fieldMerge(options: FieldMergeOptions = {}): ConflictResolver {
  if (options === null || typeof options !== 'object') {
    throw invalidInput('options', `fieldMerge options must be an object, got ${describeValue(options)}`);
  }
  const fallback = options.fallback ?? DEFAULT_FIELD_MERGE_OPTIONS.fallback;
  checkResolver(fallback, 'options.fallback');

  return {
    resolve(conflict, context) {
      const sides = readConflict(conflict, context);
      const notFields = [...sides.local, ...sides.remote].find((write) => !isFieldObject(write.event.data));
      if (notFields) {
        const why = `${describeWrite(notFields)} has data that are ${describeData(notFields.event.data)}, not an object of fields; the fallback decides`;
        return delegate(fallback, conflict, context, 'options.fallback', (result) =>
          withPrefix(result, 'fallback', [why]),
        );
      }

      const localFields = latestWritesByField(sides.local);
      const remoteFields = latestWritesByField(sides.remote);
      const won: string[] = [];
      let contested = 0;
      const fieldReasons: string[] = [];
      for (const [field, local] of [...localFields].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        const remote = remoteFields.get(field);
        const name = `field ${JSON.stringify(field)}`;
        if (remote === undefined) {
          won.push(field);
          fieldReasons.push(`${name}: only the local side changed it (${describeWrite(local)}); local value kept`);
          continue;
        }
        contested++;
        if (compareWrites(local, remote) > 0) {
          won.push(field);
          fieldReasons.push(`${name}: ${describeWin(local, remote, 'later')}; local value kept`);
        } else {
          fieldReasons.push(`${name}: ${describeWin(remote, local, 'later')}; remote value kept`);
        }
      }

      if (contested === 0) {
        return {
          resolvedEvents: [...conflict.local],
          decision: 'keep_local',
          reasons: [
            `the remote events changed none of the fields the local events changed; ${describeEvents('local', conflict.local)} pushed again`,
            ...fieldReasons,
          ],
        };
      }
      if (won.length === 0) {
        return {
          resolvedEvents: [],
          decision: 'keep_remote',
          reasons: [
            `the remote side won every field the local events changed; ${describeEvents('local', conflict.local)} dropped`,
            ...fieldReasons,
          ],
        };
      }

      const latest = latestWrite(sides.local).event;
      const data = Object.fromEntries(won.map((field) => [field, fieldValue(localFields.get(field) as Write, field)]));
      const merged = context.createEvent({
        type: latest.type,
        aggregateId: conflict.aggregateId,
        data,
        metadata: applicationMetadata(latest),
      });
      const noun = won.length === 1 ? 'field' : 'fields';
      return {
        resolvedEvents: [merged],
        decision: 'merge',
        reasons: [
          `merged: new ${merged.type} event ${merged.id} carries the ${won.length} ${noun} the local side won ` +
            `(${won.join(', ')}); ${describeEvents('local', conflict.local)} replaced`,
          ...fieldReasons,
        ],
      };
    },
  };
}

function isFieldObject(data: unknown): data is Record<string, JsonValue> {
  return data !== null && typeof data === 'object' && !Array.isArray(data);
}

function describeData(data: unknown): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'an array';
  return `a ${typeof data}`;
}

// Field name → the latest write (HLC, then id) whose data has it. A Map, so `__proto__` is a plain key.
function latestWritesByField(writes: readonly Write[]): Map<string, Write> {
  const byField = new Map<string, Write>();
  for (const write of writes) {
    for (const field of Object.keys(write.event.data as Record<string, JsonValue>)) {
      const previous = byField.get(field);
      if (previous === undefined || compareWrites(write, previous) > 0) byField.set(field, write);
    }
  }
  return byField;
}

function fieldValue(write: Write, field: string): JsonValue {
  const entry = Object.entries(write.event.data as Record<string, JsonValue>).find(([key]) => key === field);
  return (entry as [string, JsonValue])[1];
}

// The latest local event's own metadata (schemaVersion, tenant, the application's keys) without what the
// factory stamps anew (timestamp, clientId) or the manager sets on rebase (baseVersion).
function applicationMetadata(event: Event): Record<string, JsonValue> {
  const kept = Object.entries(event.metadata).filter(
    (entry): entry is [string, JsonValue] =>
      entry[0] !== 'timestamp' && entry[0] !== 'clientId' && entry[0] !== 'baseVersion' && entry[1] !== undefined,
  );
  return Object.fromEntries(kept);
}
