// The todo list's domain, in Node: the reducers fold what devices record into the list, skip what is
// malformed, and two devices syncing through a server end with the same list, with the conflict inbox
// describing what collided.
import {
  alwaysOnline,
  EventFactory,
  HybridLogicalClock,
  manual,
  MemoryEventStore,
  MemoryServerEventLog,
  SyncManager,
  type ConflictResolver,
  type EventInput,
} from '@eventsync/core';
import { MemoryNetwork } from '@eventsync/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  cleanTitle,
  compareTodos,
  MAX_TITLE_LENGTH,
  summarizeConflict,
  todoEvents,
  todoProjection,
  TODOS,
  type Todo,
} from '../src/todos.js';

const list = (todos: ReturnType<typeof todoProjection>): string[] =>
  Object.values(todos.state.toJSON()[TODOS] ?? {})
    .sort(compareTodos)
    .map((todo: Todo) => `${todo.done ? '[x] ' : ''}${todo.title}`);

describe('todo events', () => {
  it('trims titles and refuses empty or overlong ones', () => {
    expect(cleanTitle('  Buy \n  milk ')).toBe('Buy milk');
    expect(() => cleanTitle('   ')).toThrow(RangeError);
    expect(() => cleanTitle('x'.repeat(MAX_TITLE_LENGTH + 1))).toThrow(/at most 500/);
    expect(todoEvents.rename('t1', ' Oat  milk ')).toEqual({
      type: 'todo.renamed',
      aggregateId: 't1',
      data: { title: 'Oat milk' },
    });
  });
});

describe('the list projection', () => {
  let tick = Date.UTC(2026, 10, 24);
  const factory = new EventFactory({
    clientId: 'phone',
    clock: new HybridLogicalClock({ node: 'phone', now: () => tick++ }),
  });

  async function fold(inputs: EventInput[]): Promise<string[]> {
    const store = new MemoryEventStore();
    await store.appendLocal(inputs.map((input) => factory.create(input)));
    const todos = todoProjection(store);
    await todos.ready;
    const shown = list(todos);
    todos.close();
    return shown;
  }

  it('folds adds, renames, completions and deletions in creation order', async () => {
    expect(
      await fold([
        todoEvents.add('a', 'Buy milk'),
        todoEvents.add('b', 'Call the plumber'),
        todoEvents.add('c', 'Water the plants'),
        todoEvents.rename('a', 'Buy oat milk'),
        todoEvents.complete('b', true),
        todoEvents.remove('c'),
      ]),
    ).toEqual(['Buy oat milk', '[x] Call the plumber']);
  });

  it('skips malformed events and edits of todos it does not hold, rather than showing garbage', async () => {
    expect(
      await fold([
        todoEvents.add('a', 'Buy milk'),
        { type: 'todo.added', aggregateId: 'b', data: { title: 42 } },
        { type: 'todo.renamed', aggregateId: 'a', data: ['not', 'an', 'object'] },
        { type: 'todo.completed', aggregateId: 'a', data: { done: 'yes' } },
        todoEvents.rename('gone', 'Never added'),
        todoEvents.add('a', 'Added twice'),
        { type: 'todo.archived', aggregateId: 'a', data: {} },
      ]),
    ).toEqual(['Buy milk']);
  });
});

describe('two devices', () => {
  const closing: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of closing.splice(0)) await close();
  });

  function device(network: MemoryNetwork, clientId: string, resolver?: ConflictResolver) {
    const store = new MemoryEventStore();
    const manager = new SyncManager({
      store,
      transport: network.transport(clientId),
      clientId,
      connectivity: alwaysOnline,
      ...(resolver ? { resolver } : {}),
    });
    const todos = todoProjection(store, manager);
    closing.push(async () => {
      todos.close();
      await manager.close();
    });
    return { manager, todos };
  }

  it('park a concurrent rename in the inbox, described in words, and converge once it is decided', async () => {
    const network = new MemoryNetwork({ log: new MemoryServerEventLog(), tenant: 'default' });
    const phone = device(network, 'phone', manual());
    const laptop = device(network, 'laptop');

    await phone.manager.append(todoEvents.add('milk', 'Buy milk'));
    await phone.manager.sync();
    await laptop.manager.sync();
    expect(list(laptop.todos)).toEqual(['Buy milk']);

    // Both rename it before hearing of the other; the laptop's reaches the server first.
    await phone.manager.append(todoEvents.rename('milk', 'Buy almond milk'));
    await laptop.manager.append(todoEvents.rename('milk', 'Buy rice milk'));
    await laptop.manager.sync();
    const result = await phone.manager.sync();
    expect(result.parked).toBe(1);

    const [record] = await phone.manager.conflicts({ status: 'open' });
    expect(summarizeConflict(record!)).toEqual({
      id: record!.id,
      todoId: 'milk',
      mine: ['renamed it to “Buy almond milk”'],
      theirs: ['renamed it to “Buy rice milk”'],
    });
    expect(list(phone.todos)).toEqual(['Buy rice milk']); // what the server holds, until decided

    await phone.manager.resolveConflict(record!.id, 'keep_local');
    await phone.manager.sync();
    await laptop.manager.sync();
    expect(list(phone.todos)).toEqual(['Buy almond milk']);
    expect(list(laptop.todos)).toEqual(['Buy almond milk']);
  });
});
