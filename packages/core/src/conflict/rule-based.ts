import { throwIfAborted } from '../internal/abort.js';
import { describeValue } from '../internal/describe.js';
import type { ConflictResolver, ResolvedConflict } from './conflict.js';
import { checkMatcher, type ConflictMatcher } from './conflict-matcher.js';
import { checkResolved, checkResolver, invalidInput, readConflict, withPrefix } from './resolver-support.js';

/** One rule of {@link ruleBased}: when `when` matches a conflict, `use` decides it. */
export interface ConflictRule {
  /** Which conflicts the rule takes; see {@link ConflictMatcher}. */
  readonly when: ConflictMatcher;
  /** The resolver that decides them; it may answer asynchronously. */
  readonly use: ConflictResolver;
  /**
   * Names the rule in the reasons (`rule "titles": …`); unique among the rules.
   *
   * @defaultValue the rule's position, from 1 (`rule 2: …`)
   */
  readonly name?: string;
}

/** Options of {@link ruleBased}. */
export interface RuleBasedOptions {
  /** The rules, tried in order; the first whose matcher matches decides. May be empty. */
  readonly rules: readonly ConflictRule[];
  /** Decides the conflicts no rule matches. Required: no conflict is left without a decision. */
  readonly fallback: ConflictResolver;
}

/**
 * A resolver that routes each conflict to the resolver of the first rule whose matcher matches it (by
 * event type, aggregate id, changed fields, metadata or any predicate), and to `fallback` when none does.
 *
 * The result is the chosen resolver's, with reasons that say which rule decided: first
 * `rule "name": matched <matcher>`, then that resolver's reasons each prefixed `rule "name": `; or
 * `fallback: no rule matched` and the fallback's reasons prefixed `fallback: `. Always answers with a
 * promise; rejects with the signal's reason when `context.signal` fires before or after the resolver.
 *
 * @throws SyncError `invalid_input` from the factory without a `fallback`, or for a rule without a
 * matcher `when` or a resolver `use`, or with a duplicate name.
 *
 * @example
 * ```ts
 * const events = new EventFactory({ clientId: 'phone-1' });
 * const resolver = ruleBased({
 *   rules: [
 *     { name: 'cart', when: match.eventType('cart.item_added', 'cart.item_removed'), use: keepBoth() },
 *     { name: 'titles', when: match.changedFields('title'), use: fieldMerge() },
 *     { name: 'imports', when: match.or(match.metadata('origin', 'import'), match.aggregateId('legacy-*')), use: remoteWins() },
 *     { name: 'locked', when: match.predicate((conflict) => conflict.remote.length > 3, 'busy aggregate'), use: manual() },
 *   ],
 *   fallback: lastWriteWins(),
 * });
 * const result = await resolver.resolve(conflict, { createEvent: (input) => events.create(input) });
 * result.reasons;
 * // ['rule "titles": matched changedFields("title")', 'rule "titles": merged: new todo.edited event 01J… …', …]
 * ```
 */
export function ruleBased(options: RuleBasedOptions): ConflictResolver {
  if (options === null || typeof options !== 'object') {
    throw invalidInput('options', `ruleBased needs options { rules, fallback }, got ${describeValue(options)}`);
  }
  const { rules, fallback } = options;
  if (fallback === undefined) {
    throw invalidInput('options.fallback', 'ruleBased needs a fallback resolver for the conflicts no rule matches');
  }
  checkResolver(fallback, 'options.fallback');
  if (!Array.isArray(rules)) {
    throw invalidInput('options.rules', `options.rules must be an array of rules, got ${describeValue(rules)}`);
  }
  const names = new Set<string>();
  const checked = rules.map((rule: unknown, index) => {
    const field = `options.rules[${index}]`;
    if (rule === null || typeof rule !== 'object') {
      throw invalidInput(field, `${field} must be a rule { when, use, name? }, got ${describeValue(rule)}`);
    }
    const { when, use, name } = rule as Partial<ConflictRule>;
    checkMatcher(when, `${field}.when`, 'ruleBased');
    checkResolver(use, `${field}.use`);
    if (name !== undefined) {
      if (typeof name !== 'string' || name.length === 0) {
        throw invalidInput(`${field}.name`, `${field}.name must be a non-empty string, got ${describeValue(name)}`);
      }
      if (names.has(name)) throw invalidInput(`${field}.name`, `Two rules are named ${JSON.stringify(name)}`);
      names.add(name);
    }
    const label = name === undefined ? `rule ${index + 1}` : `rule ${JSON.stringify(name)}`;
    return { when, use, label, field };
  });

  return {
    async resolve(conflict, context) {
      readConflict(conflict, context);
      const rule = checked.find((candidate) => candidate.when.matches(conflict));
      const [resolver, prefix, who, leading] = rule
        ? [rule.use, rule.label, `${rule.field}.use`, `${rule.label}: matched ${rule.when.describe()}`]
        : [fallback, 'fallback', 'options.fallback', 'fallback: no rule matched'];
      const result: ResolvedConflict = await resolver.resolve(conflict, context);
      throwIfAborted(context.signal);
      return withPrefix(checkResolved(result, who), prefix, [leading]);
    },
  };
}
