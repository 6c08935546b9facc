import { expectSyncError, makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { Conflict, ConflictResolver, ResolveContext } from './conflict.js';
import { changedFields, eventType, metadata, predicate } from './conflict-matcher.js';
import { keepBoth } from './keep-both.js';
import { localWins } from './local-wins.js';
import { manual } from './manual.js';
import { remoteWins } from './remote-wins.js';
import { ruleBased } from './rule-based.js';

const phone = new TestEvents({ clientId: 'phone' });
const laptop = new TestEvents({ clientId: 'laptop' });

function conflictOf(type: string, fields: string[] = ['title']): Conflict {
  return makeConflict([phone.make('todo-1', { type })], [laptop.make('todo-1', { type })], { changedFields: fields });
}

const context: ResolveContext = { createEvent: (input) => phone.factory.create(input) };

/** A resolver that answers later, and counts its calls. */
function later(
  decision: string,
  reason: string,
  onResolve: () => void = () => {},
): ConflictResolver & { calls: number } {
  const resolver = {
    calls: 0,
    async resolve(conflict: Conflict) {
      resolver.calls++;
      await new Promise((resolve) => setTimeout(resolve, 1));
      onResolve();
      return { resolvedEvents: conflict.local, decision, reasons: [reason] };
    },
  };
  return resolver;
}

describe('ruleBased', () => {
  const resolver = ruleBased({
    rules: [
      { name: 'cart', when: eventType('cart.item_added'), use: keepBoth() },
      { name: 'titles', when: changedFields('title'), use: remoteWins() },
      { when: eventType('todo.checked'), use: localWins() },
    ],
    fallback: manual(),
  });

  it('lets the first matching rule decide and says which', async () => {
    const conflict = conflictOf('cart.item_added', ['title']);
    const result = await resolver.resolve(conflict, context);
    expect(result.decision).toBe('keep_both');
    expect(result.resolvedEvents).toEqual(conflict.local);
    expect(result.reasons[0]).toBe('rule "cart": matched eventType("cart.item_added")');
    expect(result.reasons[1]).toMatch(/^rule "cart": cart\.item_added events commute: /);
  });

  it('tries the rules in order', async () => {
    const result = await resolver.resolve(conflictOf('todo.checked', ['title']), context);
    expect(result.decision).toBe('keep_remote');
    expect(result.reasons[0]).toBe('rule "titles": matched changedFields("title")');
    expect(result.reasons[1]).toMatch(/^rule "titles": remote wins: /);
  });

  it('names an unnamed rule by its position', async () => {
    const result = await resolver.resolve(conflictOf('todo.checked', ['done']), context);
    expect(result.decision).toBe('keep_local');
    expect(result.reasons[0]).toBe('rule 3: matched eventType("todo.checked")');
    expect(result.reasons[1]).toMatch(/^rule 3: local wins: /);
  });

  it('hands the conflicts no rule matches to the fallback', async () => {
    const result = await resolver.resolve(conflictOf('todo.deleted', ['done']), context);
    expect(result.decision).toBe('park');
    expect(result.reasons).toEqual([
      'fallback: no rule matched',
      'fallback: waiting for a decision',
      expect.stringMatching(/^fallback: 1 local event \(.*\) parked against 1 remote event/),
    ]);
  });

  it('answers with a promise even when the resolver is synchronous', () => {
    const pending = resolver.resolve(conflictOf('todo.deleted'), context);
    expect(pending).toBeInstanceOf(Promise);
    return pending;
  });

  it('awaits a resolver that answers asynchronously', async () => {
    const slow = later('keep_local', 'a person agreed');
    const result = await ruleBased({
      rules: [{ name: 'slow', when: metadata('clientId', 'phone'), use: slow }],
      fallback: remoteWins(),
    }).resolve(conflictOf('todo.renamed'), context);
    expect(slow.calls).toBe(1);
    expect(result.decision).toBe('keep_local');
    expect(result.reasons).toEqual([
      'rule "slow": matched metadata("clientId", "phone")',
      'rule "slow": a person agreed',
    ]);
  });

  it('prefixes the reasons of nested rules with both rules', async () => {
    const inner = ruleBased({
      rules: [{ name: 'inner', when: predicate(() => true, 'all'), use: remoteWins() }],
      fallback: localWins(),
    });
    const outer = ruleBased({
      rules: [{ name: 'outer', when: changedFields('title'), use: inner }],
      fallback: localWins(),
    });
    const result = await outer.resolve(conflictOf('todo.renamed'), context);
    expect(result.reasons.slice(0, 2)).toEqual([
      'rule "outer": matched changedFields("title")',
      'rule "outer": rule "inner": matched predicate("all")',
    ]);
    expect(result.reasons[2]).toMatch(/^rule "outer": rule "inner": remote wins: /);
  });

  it('rejects with the signal’s reason before deciding when it has fired', async () => {
    const slow = later('keep_local', 'never');
    const controller = new AbortController();
    controller.abort(new Error('user left'));
    const rules = ruleBased({ rules: [{ when: eventType('todo.renamed'), use: slow }], fallback: remoteWins() });
    await expect(rules.resolve(conflictOf('todo.renamed'), { ...context, signal: controller.signal })).rejects.toThrow(
      'user left',
    );
    expect(slow.calls).toBe(0);
  });

  it('rejects with the signal’s reason when it fires while a resolver works', async () => {
    const controller = new AbortController();
    const slow = later('keep_local', 'too late', () => controller.abort(new Error('user left')));
    const rules = ruleBased({ rules: [{ when: eventType('todo.renamed'), use: slow }], fallback: remoteWins() });
    await expect(rules.resolve(conflictOf('todo.renamed'), { ...context, signal: controller.signal })).rejects.toThrow(
      'user left',
    );
    expect(slow.calls).toBe(1);
  });

  it('rejects with a SyncError aborted when the signal fired without a reason of its own', async () => {
    const signal = { aborted: true, reason: undefined } as unknown as AbortSignal;
    await expectSyncError(() => resolver.resolve(conflictOf('todo.renamed'), { ...context, signal }), 'aborted');
  });

  it('refuses what a broken resolver returns', async () => {
    const broken: ConflictResolver = { resolve: () => ({ decision: 'keep_local' }) as never };
    const rules = ruleBased({
      rules: [{ name: 'broken', when: eventType('todo.renamed'), use: broken }],
      fallback: remoteWins(),
    });
    const error = await expectSyncError(() => rules.resolve(conflictOf('todo.renamed'), context), 'invalid_input');
    expect(error.details.field).toBe('options.rules[0].use.resolvedEvents');
  });

  it('needs a fallback', async () => {
    const error = await expectSyncError(() => ruleBased({ rules: [] } as never), 'invalid_input');
    expect(error.message).toBe('ruleBased needs a fallback resolver for the conflicts no rule matches');
    expect(error.details.field).toBe('options.fallback');
    await expectSyncError(() => ruleBased({ rules: [], fallback: null } as never), 'invalid_input');
    await expectSyncError(() => ruleBased(undefined as never), 'invalid_input');
  });

  it('accepts no rules at all', async () => {
    const result = await ruleBased({ rules: [], fallback: remoteWins() }).resolve(conflictOf('todo.renamed'), context);
    expect(result.decision).toBe('keep_remote');
  });

  it('needs each rule to have a matcher and a resolver, and distinct names', async () => {
    const fallback = remoteWins();
    const noWhen = await expectSyncError(
      () => ruleBased({ rules: [{ use: localWins() } as never], fallback }),
      'invalid_input',
    );
    expect(noWhen.details.field).toBe('options.rules[0].when');
    const noUse = await expectSyncError(
      () => ruleBased({ rules: [{ when: eventType('a') }, { when: eventType('b') }] as never, fallback }),
      'invalid_input',
    );
    expect(noUse.details.field).toBe('options.rules[0].use');
    await expectSyncError(
      () => ruleBased({ rules: [{ when: (() => true) as never, use: localWins() }], fallback }),
      'invalid_input',
    );
    await expectSyncError(() => ruleBased({ rules: 'all' as never, fallback }), 'invalid_input');
    await expectSyncError(() => ruleBased({ rules: [null as never], fallback }), 'invalid_input');
    await expectSyncError(
      () => ruleBased({ rules: [{ when: eventType('a'), use: localWins(), name: '' }], fallback }),
      'invalid_input',
    );
    const twice = await expectSyncError(
      () =>
        ruleBased({
          rules: [
            { name: 'x', when: eventType('a'), use: localWins() },
            { name: 'x', when: eventType('b'), use: localWins() },
          ],
          fallback,
        }),
      'invalid_input',
    );
    expect(twice.message).toBe('Two rules are named "x"');
  });

  it('refuses a malformed conflict', async () => {
    await expectSyncError(() => resolver.resolve({ ...conflictOf('a'), remote: [] }, context), 'invalid_input');
  });
});
