import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryEventStore } from '../store/memory-event-store.js';
import { createWorld, keepLocal, keepRemote, rejecting, spyPush } from '../sync/test-support.js';
import { Projection, type ProjectionDefinition } from './projection.js';

type Titles = Readonly<Record<string, string>>;

const titles: ProjectionDefinition<Titles> = {
  initial: () => ({}),
  reducers: {
    'todo.set': (state, event) => ({ ...state, [event.aggregateId]: (event.data as { title: string }).title }),
    'todo.deleted': (state, event) => {
      const { [event.aggregateId]: _gone, ...rest } = state;
      return rest;
    },
  },
};

const set = (aggregateId: string, title: string) => ({ type: 'todo.set', aggregateId, data: { title } });

describe('Projection', () => {
  let world: ReturnType<typeof createWorld>;

  beforeEach(() => {
    world = createWorld();
  });

  afterEach(async () => {
    await world.close();
  });

  it('folds the confirmed log in server order, then the pending events on top', async () => {
    const a = world.client('a');
    const b = world.client('b');
    await a.manager.append([set('t1', 'a1'), set('t2', 'a2')]);
    await a.manager.sync();
    await b.manager.sync();
    await b.manager.append(set('t1', 'b1 (pending)'));
    const view = new Projection({ store: b.store, definition: titles, manager: b.manager });
    await view.ready;
    expect(view.state).toEqual({ t1: 'b1 (pending)', t2: 'a2' });
    view.close();
  });

  it('shows an append at once and a pulled event after the sync that brought it', async () => {
    const a = world.client('a');
    const b = world.client('b');
    const view = new Projection({ store: b.store, definition: titles, manager: b.manager });
    await view.ready;
    const seen: Titles[] = [];
    view.subscribe((state) => seen.push(state));
    await b.manager.append(set('t1', 'mine'));
    await view.refresh();
    expect(view.state).toEqual({ t1: 'mine' });
    await a.manager.append(set('t2', 'theirs'));
    await a.manager.sync();
    await b.manager.sync();
    await view.refresh();
    expect(view.state).toEqual({ t1: 'mine', t2: 'theirs' });
    expect(seen.at(-1)).toEqual(view.state);
  });

  it('is recomputed after a rebase: the local edit lands on top of the remote one', async () => {
    const a = world.client('a');
    const b = world.client('b', { resolver: keepLocal });
    const view = new Projection({ store: b.store, definition: titles, manager: b.manager });
    await a.manager.append(set('t1', 'from a'));
    await b.manager.append(set('t1', 'from b'));
    await a.manager.sync();
    await b.manager.sync();
    await view.refresh();
    expect(view.state).toEqual({ t1: 'from b' });
    await a.manager.sync();
    const other = new Projection({ store: a.store, definition: titles });
    await other.ready;
    expect(other.state).toEqual(view.state);
  });

  it('drops the effect of local events the resolver dropped', async () => {
    const a = world.client('a');
    const b = world.client('b', { resolver: keepRemote });
    const view = new Projection({ store: b.store, definition: titles, manager: b.manager });
    await a.manager.append(set('t1', 'from a'));
    await b.manager.append([set('t1', 'from b'), set('t3', 'b only')]);
    await view.refresh();
    expect(view.state).toEqual({ t1: 'from b', t3: 'b only' });
    await a.manager.sync();
    await b.manager.sync();
    await view.refresh();
    expect(view.state).toEqual({ t1: 'from a', t3: 'b only' });
  });

  it('folds own events confirmed beyond the cursor, then the server order once the pull catches up', async () => {
    const order: ProjectionDefinition<readonly string[]> = {
      initial: () => [],
      reducers: { 'todo.set': (state, event) => [...state, (event.data as { title: string }).title] },
    };
    const a = world.client('a');
    let raced = false;
    // A's event lands after B's pull and before B's push: B's own event is confirmed at version 2
    // while its cursor is still 0.
    const b = world.client('b', {
      wrap: (transport) =>
        spyPush(transport, async () => {
          if (raced) return;
          raced = true;
          await a.manager.append(set('t1', 'from a'));
          await a.manager.sync();
        }),
    });
    await b.manager.append(set('t2', 'from b'));
    await b.manager.sync();
    expect((await b.store.cursor()).toString()).toBe('0');
    const view = new Projection({ store: b.store, definition: order, manager: b.manager });
    await view.ready;
    expect(view.state).toEqual(['from b']);
    await b.manager.sync();
    await view.refresh();
    expect(view.state).toEqual(['from a', 'from b']);
  });

  it('drops the effect of a local event the server rejected for good', async () => {
    const b = world.client('b', {
      wrap: (transport) => rejecting(transport, 'todo.set', 'read-only'),
    });
    const view = new Projection({ store: b.store, definition: titles, manager: b.manager });
    await b.manager.append(set('t1', 'never allowed'));
    await view.refresh();
    expect(view.state).toEqual({ t1: 'never allowed' });
    expect(await b.manager.sync()).toMatchObject({ rejected: 1 });
    await view.refresh();
    expect(view.state).toEqual({});
  });

  it('notifies only when the state changed, and not after close', async () => {
    const store = new MemoryEventStore();
    const view = new Projection({ store, definition: titles });
    await view.ready;
    let calls = 0;
    view.subscribe(() => calls++);
    await view.refresh();
    expect(calls).toBe(0);
    view.close();
    await expect(view.refresh()).rejects.toMatchObject({ code: 'closed' });
  });

  it('refuses a definition without initial or reducers', () => {
    expect(() => new Projection({ store: new MemoryEventStore(), definition: {} as never })).toThrow(/initial/);
  });
});
