import { expectSyncError, makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { Event, JsonValue } from '../event/event.js';
import type { Conflict } from './conflict.js';
import {
  aggregateId,
  and,
  changedFields,
  type ConflictMatcher,
  eventType,
  metadata,
  not,
  or,
  predicate,
} from './conflict-matcher.js';

const phone = new TestEvents({ clientId: 'phone' });
const laptop = new TestEvents({ clientId: 'laptop' });

function conflictOf(options: {
  id?: string;
  local?: Event[];
  remote?: Event[];
  changedFields?: string[];
  metadata?: Record<string, JsonValue>;
}): Conflict {
  const id = options.id ?? 'todo-1';
  const local = options.local ?? [phone.make(id, { type: 'todo.renamed' })];
  const remote = options.remote ?? [laptop.make(id, { type: 'todo.renamed' })];
  return makeConflict(local, remote, {
    aggregateId: id,
    changedFields: options.changedFields ?? ['title'],
    metadata: options.metadata,
  });
}

const always: ConflictMatcher = { matches: () => true, describe: () => 'always' };
const never: ConflictMatcher = { matches: () => false, describe: () => 'never' };

describe('eventType', () => {
  it('matches when any local or remote event has one of the types', () => {
    const local = [phone.make('todo-1', { type: 'todo.renamed' }), phone.make('todo-1', { type: 'todo.checked' })];
    const remote = [laptop.make('todo-1', { type: 'todo.deleted' })];
    const conflict = conflictOf({ local, remote });
    expect(eventType('todo.renamed').matches(conflict)).toBe(true);
    expect(eventType('todo.checked').matches(conflict)).toBe(true);
    expect(eventType('todo.deleted').matches(conflict)).toBe(true);
    expect(eventType('todo.added', 'todo.moved').matches(conflict)).toBe(false);
    expect(eventType('todo.added', 'todo.deleted').matches(conflict)).toBe(true);
  });

  it('matches on the conflict’s event type', () => {
    const conflict = { ...conflictOf({}), eventType: 'todo.imported' };
    expect(eventType('todo.imported').matches(conflict)).toBe(true);
  });

  it('describes itself as it was built', () => {
    expect(eventType('a', 'b').describe()).toBe('eventType("a", "b")');
  });

  it('needs at least one non-empty type', async () => {
    await expectSyncError(() => eventType(), 'invalid_input');
    await expectSyncError(() => eventType('a', ''), 'invalid_input');
    await expectSyncError(() => eventType(1 as never), 'invalid_input');
  });
});

describe('aggregateId', () => {
  it.each<[string, string, boolean]>([
    ['todo-*', 'todo-1', true],
    ['todo-*', 'todo-', true],
    ['todo-*', 'my-todo-1', false],
    ['*-1', 'todo-1', true],
    ['todo-1', 'todo-1', true],
    ['todo-1', 'todo-10', false],
    ['list.*.item', 'list.7.item', true],
    ['list.*.item', 'listX7Xitem', false],
    ['a+b(*)', 'a+b(c)', true],
    ['*', 'anything at all', true],
  ])('matches the glob %s against %s: %s', (pattern, id, expected) => {
    expect(aggregateId(pattern).matches(conflictOf({ id }))).toBe(expected);
  });

  it('matches a regular expression, statelessly even with the g flag', () => {
    const matcher = aggregateId(/^todo-\d+$/g);
    const conflict = conflictOf({ id: 'todo-12' });
    expect(matcher.matches(conflict)).toBe(true);
    expect(matcher.matches(conflict)).toBe(true);
    expect(matcher.matches(conflictOf({ id: 'todo-x' }))).toBe(false);
    expect(matcher.describe()).toBe('aggregateId(/^todo-\\d+$/)');
    expect(aggregateId('todo-*').describe()).toBe('aggregateId("todo-*")');
  });

  it('needs a non-empty glob or a RegExp', async () => {
    await expectSyncError(() => aggregateId(''), 'invalid_input');
    await expectSyncError(() => aggregateId(7 as never), 'invalid_input');
  });
});

describe('changedFields', () => {
  it('matches when both sides changed any of the fields', () => {
    const conflict = conflictOf({ changedFields: ['title', 'done'] });
    expect(changedFields('done').matches(conflict)).toBe(true);
    expect(changedFields('note', 'title').matches(conflict)).toBe(true);
    expect(changedFields('note').matches(conflict)).toBe(false);
    expect(changedFields('title').matches(conflictOf({ changedFields: [] }))).toBe(false);
    expect(changedFields('note', 'title').describe()).toBe('changedFields("note", "title")');
  });

  it('needs at least one field', async () => {
    await expectSyncError(() => changedFields(), 'invalid_input');
  });
});

describe('metadata', () => {
  it('reads the conflict’s metadata first', () => {
    const local = [phone.make('todo-1', { metadata: { origin: 'ui' } })];
    const conflict = conflictOf({ local, metadata: { origin: 'import' } });
    expect(metadata('origin', 'import').matches(conflict)).toBe(true);
    expect(metadata('origin', 'ui').matches(conflict)).toBe(false);
  });

  it('reads the first local event’s metadata when the conflict has no such key', () => {
    const local = [phone.make('todo-1', { metadata: { origin: 'ui', schemaVersion: 2 } }), phone.make('todo-1')];
    const conflict = conflictOf({ local });
    expect(metadata('origin', 'ui').matches(conflict)).toBe(true);
    expect(metadata('schemaVersion', 2).matches(conflict)).toBe(true);
    expect(metadata('clientId', 'phone').matches(conflict)).toBe(true);
    expect(metadata('origin', 'import').matches(conflict)).toBe(false);
  });

  it('compares JSON values by content', () => {
    const conflict = conflictOf({ metadata: { tags: { b: 2, a: [1, null] } } });
    expect(metadata('tags', { a: [1, null], b: 2 }).matches(conflict)).toBe(true);
    expect(metadata('tags', { a: [1], b: 2 }).matches(conflict)).toBe(false);
    expect(metadata('missing', null).matches(conflict)).toBe(false);
  });

  it('passes the value, or undefined when absent, to a predicate', () => {
    const conflict = conflictOf({ metadata: { priority: 3 } });
    const high = (value: JsonValue | undefined) => typeof value === 'number' && value > 2;
    expect(metadata('priority', high).matches(conflict)).toBe(true);
    expect(metadata('owner', (value) => value === undefined).matches(conflict)).toBe(true);
    expect(metadata('priority', high).describe()).toBe('metadata("priority", high)');
    expect(metadata('priority', 'high').describe()).toBe('metadata("priority", "high")');
  });

  it('counts only own keys, so prototype names find nothing', () => {
    const conflict = conflictOf({});
    expect(metadata('constructor', (value) => value === undefined).matches(conflict)).toBe(true);
    expect(metadata('__proto__', (value) => value === undefined).matches(conflict)).toBe(true);
  });

  it('refuses a predicate that does not answer a boolean, and a missing key or value', async () => {
    const conflict = conflictOf({ metadata: { priority: 3 } });
    await expectSyncError(() => metadata('priority', (() => 'yes') as never).matches(conflict), 'invalid_input');
    await expectSyncError(() => metadata('', 1), 'invalid_input');
    await expectSyncError(() => metadata('priority', undefined as never), 'invalid_input');
  });
});

describe('predicate', () => {
  it('matches what the function says and is named by its description', () => {
    const busy = predicate((conflict) => conflict.remote.length > 1, 'busy aggregate');
    const remote = [laptop.make('todo-1'), laptop.make('todo-1')];
    expect(busy.matches(conflictOf({ remote }))).toBe(true);
    expect(busy.matches(conflictOf({}))).toBe(false);
    expect(busy.describe()).toBe('predicate("busy aggregate")');
    function isLong(conflict: Conflict) {
      return conflict.local.length > 5;
    }
    expect(predicate(isLong).describe()).toBe('predicate(isLong)');
  });

  it('refuses a function that answers a promise', async () => {
    const asynchronous = predicate((async () => true) as never);
    await expectSyncError(() => asynchronous.matches(conflictOf({})), 'invalid_input');
    await expectSyncError(() => predicate('yes' as never), 'invalid_input');
  });
});

describe('and, or, not', () => {
  const conflict = conflictOf({});

  it('combine matchers', () => {
    expect(and(always, always).matches(conflict)).toBe(true);
    expect(and(always, never).matches(conflict)).toBe(false);
    expect(or(never, always).matches(conflict)).toBe(true);
    expect(or(never, never).matches(conflict)).toBe(false);
    expect(not(never).matches(conflict)).toBe(true);
    expect(not(always).matches(conflict)).toBe(false);
    expect(and(eventType('todo.renamed'), not(changedFields('done'))).matches(conflict)).toBe(true);
  });

  it('stop at the first matcher that decides', () => {
    let asked = 0;
    const counting: ConflictMatcher = { matches: () => (asked++, true), describe: () => 'counting' };
    and(never, counting).matches(conflict);
    or(always, counting).matches(conflict);
    expect(asked).toBe(0);
  });

  it('describe themselves with their parts', () => {
    expect(and(eventType('a'), or(changedFields('x'), not(aggregateId('t-*')))).describe()).toBe(
      'and(eventType("a"), or(changedFields("x"), not(aggregateId("t-*"))))',
    );
  });

  it('need matchers', async () => {
    await expectSyncError(() => and(), 'invalid_input');
    await expectSyncError(() => or(), 'invalid_input');
    await expectSyncError(() => not(undefined as never), 'invalid_input');
    await expectSyncError(() => and(always, { matches: () => true } as never), 'invalid_input');
  });
});
