import { canonicalJson } from '../event/canonical-json.js';
import type { JsonValue } from '../event/event.js';
import { describeValue } from '../internal/describe.js';
import type { Conflict } from './conflict.js';
import { invalidInput } from './resolver-support.js';

/**
 * Decides whether a rule of {@link ruleBased} applies to a conflict. Build one with {@link match.eventType},
 * {@link match.aggregateId}, {@link match.changedFields}, {@link match.metadata} or {@link match.predicate},
 * and combine them with {@link match.and}, {@link match.or} and {@link match.not}; or write your own object
 * with these two methods.
 *
 * @example
 * ```ts
 * const titleEdits: ConflictMatcher = match.and(match.eventType('todo.renamed'), match.not(match.metadata('locked', true)));
 * titleEdits.describe(); // 'and(eventType("todo.renamed"), not(metadata("locked", true)))'
 * ```
 */
export interface ConflictMatcher {
  /** Whether the conflict matches. Synchronous: decide asynchronously inside a resolver instead. */
  matches(conflict: Conflict): boolean;
  /** What the matcher matches, written as it was built; the reasons of a decision name it. */
  describe(): string;
}

/**
 * Matches a conflict in which any event, local or remote, has one of `types` (or whose
 * `conflict.eventType` is one of them).
 *
 * @example
 * ```ts
 * ruleBased({ rules: [{ when: match.eventType('cart.item_added', 'cart.item_removed'), use: keepBoth() }], fallback: lastWriteWins() });
 * ```
 */
export function eventType(...types: string[]): ConflictMatcher {
  checkNames(types, 'eventType', 'types');
  const wanted = new Set(types);
  return {
    matches: (conflict) =>
      wanted.has(conflict.eventType) ||
      conflict.local.some((event) => wanted.has(event.type)) ||
      conflict.remote.some(({ event }) => wanted.has(event.type)),
    describe: () => `eventType(${types.map((type) => JSON.stringify(type)).join(', ')})`,
  };
}

/**
 * Matches a conflict whose aggregate id fits `pattern`: a glob in which `*` stands for any run of
 * characters (`'todo-*'`), matched against the whole id, or a regular expression (its `g` and `y`
 * flags are ignored, so matching keeps no state).
 *
 * @example
 * ```ts
 * match.aggregateId('invoice-*'); // invoice-1, invoice-2026-04
 * match.aggregateId(/^user-\d+$/);
 * ```
 */
export function aggregateId(pattern: string | RegExp): ConflictMatcher {
  let regex: RegExp;
  let shown: string;
  if (pattern instanceof RegExp) {
    regex = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    shown = String(regex);
  } else if (typeof pattern === 'string' && pattern.length > 0) {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('[\\s\\S]*');
    regex = new RegExp(`^${source}$`);
    shown = JSON.stringify(pattern);
  } else {
    throw invalidInput(
      'pattern',
      `aggregateId needs a non-empty glob string or a RegExp, got ${describeValue(pattern)}`,
    );
  }
  return {
    matches: (conflict) => regex.test(conflict.aggregateId),
    describe: () => `aggregateId(${shown})`,
  };
}

/**
 * Matches a conflict in which both sides changed any of `fields` (top-level data fields, as listed in
 * `conflict.changedFields`).
 *
 * @example
 * ```ts
 * match.changedFields('title', 'description');
 * ```
 */
export function changedFields(...fields: string[]): ConflictMatcher {
  checkNames(fields, 'changedFields', 'fields');
  const wanted = new Set(fields);
  return {
    matches: (conflict) => conflict.changedFields.some((field) => wanted.has(field)),
    describe: () => `changedFields(${fields.map((field) => JSON.stringify(field)).join(', ')})`,
  };
}

/**
 * Matches on a metadata value: `conflict.metadata[key]` when the conflict has that key, otherwise the
 * first local event's `metadata[key]` (so rules can read both the context the sync manager gives and the
 * application's own keys such as `tenant` or `schemaVersion`). Only own keys count.
 *
 * `expected` is a JSON value, compared by content (key order does not matter), or a predicate on the
 * value, which is `undefined` where neither has the key.
 *
 * @example
 * ```ts
 * match.metadata('origin', 'import');
 * match.metadata('schemaVersion', (version) => typeof version === 'number' && version < 3);
 * ```
 */
export function metadata(
  key: string,
  expected: JsonValue | ((value: JsonValue | undefined) => boolean),
): ConflictMatcher {
  if (typeof key !== 'string' || key.length === 0) {
    throw invalidInput('key', `metadata needs a non-empty key, got ${describeValue(key)}`);
  }
  if (expected === undefined) {
    throw invalidInput('expected', 'metadata needs an expected JSON value or a predicate, got undefined');
  }
  const test =
    typeof expected === 'function'
      ? (value: JsonValue | undefined) => checkBoolean(expected(value), `metadata(${JSON.stringify(key)}) predicate`)
      : matchValue(expected);
  const shown = typeof expected === 'function' ? expected.name || '<predicate>' : JSON.stringify(expected);
  return {
    matches: (conflict) => test(metadataValue(conflict, key)),
    describe: () => `metadata(${JSON.stringify(key)}, ${shown})`,
  };
}

/**
 * Matches a conflict for which `test` returns true: anything the other matchers cannot say. The
 * `description` names it in the reasons (the function's name otherwise).
 *
 * @example
 * ```ts
 * match.predicate((conflict) => conflict.remote.length > 10, 'many remote edits');
 * ```
 */
export function predicate(test: (conflict: Conflict) => boolean, description?: string): ConflictMatcher {
  if (typeof test !== 'function') {
    throw invalidInput('test', `predicate needs a function, got ${describeValue(test)}`);
  }
  if (description !== undefined && (typeof description !== 'string' || description.length === 0)) {
    throw invalidInput(
      'description',
      `predicate's description must be a non-empty string, got ${describeValue(description)}`,
    );
  }
  const shown = description === undefined ? test.name || '<anonymous>' : JSON.stringify(description);
  return {
    matches: (conflict) => checkBoolean(test(conflict), `predicate(${shown})`),
    describe: () => `predicate(${shown})`,
  };
}

/**
 * Matches when every one of `matchers` does (checked in order, stopping at the first that does not).
 *
 * @example
 * ```ts
 * match.and(match.eventType('todo.renamed'), match.aggregateId('todo-*'));
 * ```
 */
export function and(...matchers: ConflictMatcher[]): ConflictMatcher {
  checkMatchers(matchers, 'and');
  return {
    matches: (conflict) => matchers.every((matcher) => matcher.matches(conflict)),
    describe: () => `and(${matchers.map((matcher) => matcher.describe()).join(', ')})`,
  };
}

/**
 * Matches when any of `matchers` does (checked in order, stopping at the first that does).
 *
 * @example
 * ```ts
 * match.or(match.changedFields('price'), match.metadata('origin', 'import'));
 * ```
 */
export function or(...matchers: ConflictMatcher[]): ConflictMatcher {
  checkMatchers(matchers, 'or');
  return {
    matches: (conflict) => matchers.some((matcher) => matcher.matches(conflict)),
    describe: () => `or(${matchers.map((matcher) => matcher.describe()).join(', ')})`,
  };
}

/**
 * Matches when `matcher` does not.
 *
 * @example
 * ```ts
 * match.not(match.eventType('todo.deleted'));
 * ```
 */
export function not(matcher: ConflictMatcher): ConflictMatcher {
  checkMatcher(matcher, 'matcher', 'not');
  return {
    matches: (conflict) => !matcher.matches(conflict),
    describe: () => `not(${matcher.describe()})`,
  };
}

/** Checks a matcher given to a combinator or a rule. */
export function checkMatcher(value: unknown, field: string, where: string): asserts value is ConflictMatcher {
  const candidate = value as Partial<ConflictMatcher> | null;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.matches !== 'function' ||
    typeof candidate.describe !== 'function'
  ) {
    throw invalidInput(
      field,
      `${where} needs a matcher (an object with matches() and describe()) as ${field}, got ${describeValue(value)}`,
    );
  }
}

function checkMatchers(matchers: unknown[], where: string): void {
  if (matchers.length === 0) throw invalidInput('matchers', `${where} needs at least one matcher`);
  matchers.forEach((matcher, index) => checkMatcher(matcher, `matchers[${index}]`, where));
}

function checkNames(names: unknown[], where: string, field: string): void {
  if (names.length === 0) throw invalidInput(field, `${where} needs at least one name`);
  names.forEach((name, index) => {
    if (typeof name !== 'string' || name.length === 0) {
      throw invalidInput(`${field}[${index}]`, `${where} names must be non-empty strings, got ${describeValue(name)}`);
    }
  });
}

function checkBoolean(value: unknown, where: string): boolean {
  if (typeof value !== 'boolean') {
    throw invalidInput('predicate', `${where} must return a boolean, got ${describeValue(value)}`);
  }
  return value;
}

function matchValue(expected: JsonValue): (value: JsonValue | undefined) => boolean {
  const key = canonicalJson(expected);
  return (value) => value !== undefined && canonicalJson(value) === key;
}

function metadataValue(conflict: Conflict, key: string): JsonValue | undefined {
  if (Object.hasOwn(conflict.metadata, key)) return conflict.metadata[key];
  const first = conflict.local[0];
  if (first !== undefined && Object.hasOwn(first.metadata, key)) return first.metadata[key];
  return undefined;
}

/**
 * The matchers, gathered under one name so that `and`, `or`, `not` and `metadata` do not crowd an
 * application's own names.
 *
 * @example
 * ```ts
 * ruleBased({
 *   rules: [{ name: 'titles', when: match.and(match.eventType('todo.renamed'), match.changedFields('title')), use: fieldMerge() }],
 *   fallback: lastWriteWins(),
 * });
 * ```
 */
export const match = {
  /**
   * `match.eventType(...types)`: a conflict in which any event, local or remote, has one of `types` (or
   * whose `conflict.eventType` is one of them).
   */
  eventType,
  /**
   * `match.aggregateId(pattern)`: a conflict whose aggregate id fits `pattern`, a glob in which `*`
   * stands for any run of characters (`'todo-*'`, matched against the whole id) or a regular expression.
   */
  aggregateId,
  /**
   * `match.changedFields(...fields)`: a conflict in which both sides changed any of `fields` (top-level
   * data fields, as in `conflict.changedFields`).
   */
  changedFields,
  /**
   * `match.metadata(key, expected)`: `conflict.metadata[key]`, or else the first local event's
   * `metadata[key]`, equals the JSON value `expected` (by content) or passes `expected` as a predicate.
   */
  metadata,
  /**
   * `match.predicate(test, description?)`: a conflict for which `test` returns true; `description`
   * names it in the reasons of a decision.
   */
  predicate,
  /** `match.and(...matchers)`: every one of `matchers` matches (checked in order, stopping at the first miss). */
  and,
  /** `match.or(...matchers)`: any of `matchers` matches (checked in order, stopping at the first match). */
  or,
  /** `match.not(matcher)`: `matcher` does not match. */
  not,
} as const;
