import { describeValue } from '../internal/describe.js';
import type { ConflictResolver } from './conflict.js';
import { lastWriteWins } from './last-write-wins.js';
import {
  checkResolver,
  delegate,
  describeEvents,
  describeWrite,
  invalidInput,
  readConflict,
  withPrefix,
} from './resolver-support.js';

/** Options of {@link keepBoth}. */
export interface KeepBothOptions {
  /**
   * The event types that commute (adding an item, incrementing a counter, appending a comment). When
   * given, a conflict with any local or remote event of another type goes to `fallback`.
   *
   * @defaultValue every type: all events commute
   */
  readonly types?: readonly string[];
  /**
   * Decides the conflicts with an event whose type is not in `types`; its reasons come prefixed with
   * `fallback: `. Unused without `types`.
   *
   * @defaultValue `lastWriteWins()`
   */
  readonly fallback?: ConflictResolver;
}

/** The defaults of {@link KeepBothOptions}. */
export const DEFAULT_KEEP_BOTH_OPTIONS: Readonly<{
  /** No `types`: every event type commutes. */
  types: undefined;
  /** `lastWriteWins()`, for the conflicts `types` leaves out. */
  fallback: ConflictResolver;
}> = {
  types: undefined,
  fallback: lastWriteWins(),
};

/**
 * A resolver for commutative events, whose order does not matter: both sides stand. The local events are
 * pushed again, unchanged, after the remote ones (decision `keep_both`).
 *
 * With `types`, only conflicts whose local and remote events are all of those types are kept both;
 * the others go to `fallback`.
 *
 * @example
 * ```ts
 * const resolver = keepBoth({ types: ['cart.item_added', 'cart.item_removed'], fallback: lastWriteWins() });
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const result = await resolver.resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.decision; // 'keep_both'
 * result.reasons;
 * // ['cart.item_added events commute: 1 local event (01J…) pushed again after 1 remote event (01J…)']
 * ```
 */
export function keepBoth(options: KeepBothOptions = {}): ConflictResolver {
  if (options === null || typeof options !== 'object') {
    throw invalidInput('options', `keepBoth options must be an object, got ${describeValue(options)}`);
  }
  const { types } = options;
  const fallback = options.fallback ?? DEFAULT_KEEP_BOTH_OPTIONS.fallback;
  checkResolver(fallback, 'options.fallback');
  if (types !== undefined) {
    if (!Array.isArray(types) || types.length === 0) {
      throw invalidInput(
        'options.types',
        'options.types must be a non-empty array of event types, or absent for all types',
      );
    }
    types.forEach((type: unknown, index) => {
      if (typeof type !== 'string' || type.length === 0) {
        throw invalidInput(
          `options.types[${index}]`,
          `options.types[${index}] must be a non-empty string, got ${describeValue(type)}`,
        );
      }
    });
  }
  const commuting = types === undefined ? undefined : new Set(types);

  return {
    resolve(conflict, context) {
      const sides = readConflict(conflict, context);
      const writes = [...sides.local, ...sides.remote];
      if (commuting !== undefined) {
        const other = writes.find((write) => !commuting.has(write.event.type));
        if (other) {
          const why =
            `${describeWrite(other)} is of type ${JSON.stringify(other.event.type)}, which keepBoth does not keep both of ` +
            `(${[...commuting].join(', ')}); the fallback decides`;
          return delegate(fallback, conflict, context, 'options.fallback', (result) =>
            withPrefix(result, 'fallback', [why]),
          );
        }
      }
      const typeNames = [...new Set(writes.map((write) => write.event.type))].sort().join(', ');
      return {
        resolvedEvents: [...conflict.local],
        decision: 'keep_both',
        reasons: [
          `${typeNames} events commute: ${describeEvents('local', conflict.local)} pushed again after ` +
            `${describeEvents(
              'remote',
              sides.remote.map((write) => write.event),
            )}`,
        ],
      };
    },
  };
}
