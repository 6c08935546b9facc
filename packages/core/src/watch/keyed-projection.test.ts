import { expectSyncError } from '@eventsync/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JsonValue } from '../event/event.js';
import { createWorld } from '../sync/test-support.js';
import type { Change } from './change.js';
import { KeyedProjection, type KeyedProjectionOptions, type Watcher } from './keyed-projection.js';
import type { KeyedState } from './keyed-state.js';

const reducers: KeyedProjectionOptions<JsonValue>['reducers'] = {
  'entry.set': (state: KeyedState<JsonValue>, event) => {
    const { kind, value } = event.data as { kind: string; value: JsonValue };
    return state.set(kind, event.aggregateId, value);
  },
  'entry.deleted': (state, event) => state.delete((event.data as { kind: string }).kind, event.aggregateId),
};

const put = (kind: string, key: string, value: JsonValue) => ({
  type: 'entry.set',
  aggregateId: key,
  data: { kind, value },
});
const remove = (kind: string, key: string) => ({ type: 'entry.deleted', aggregateId: key, data: { kind } });

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What `watcher` has buffered now, read without waiting for more. */
async function drain<V>(watcher: Watcher<V>): Promise<Change<V>[]> {
  const changes: Change<V>[] = [];
  while (watcher.stats.queued > 0) {
    const step = await watcher.next();
    if (step.done) break;
    changes.push(step.value);
  }
  return changes;
}

const brief = (change: Change<unknown>): string =>
  change.type === 'create'
    ? `create ${change.kind}/${change.key}=${JSON.stringify(change.value)}`
    : change.type === 'update'
      ? `update ${change.kind}/${change.key}=${JSON.stringify(change.value)} (was ${JSON.stringify(change.previous)})`
      : `delete ${change.kind}/${change.key} (was ${JSON.stringify(change.previous)})`;

describe('KeyedProjection watches', () => {
  let world: ReturnType<typeof createWorld>;

  beforeEach(() => {
    world = createWorld();
  });

  afterEach(async () => {
    await world.close();
  });

  function setup(client = 'b', options: Partial<KeyedProjectionOptions<JsonValue>> = {}) {
    const { manager, store } = world.client(client);
    const view = new KeyedProjection<JsonValue>({ store, manager, reducers, ...options });
    return { manager, store, view };
  }

  it('notifies create, update and delete with the kind, the key, the value, and the previous value', async () => {
    const { manager, view } = setup();
    await view.ready;
    const watcher = view.watch();
    await manager.append(put('todos', 't1', { title: 'Milk' }));
    await view.refresh();
    await manager.append(put('todos', 't1', { title: 'Oat milk' }));
    await view.refresh();
    await manager.append(remove('todos', 't1'));
    await view.refresh();
    expect(await drain(watcher)).toEqual([
      { type: 'create', kind: 'todos', key: 't1', value: { title: 'Milk' } },
      { type: 'update', kind: 'todos', key: 't1', value: { title: 'Oat milk' }, previous: { title: 'Milk' } },
      { type: 'delete', kind: 'todos', key: 't1', previous: { title: 'Oat milk' } },
    ]);
  });

  it('emits nothing for a value that did not change, by JSON structure or by a given equals', async () => {
    const { manager, view } = setup();
    const watcher = view.watch();
    await manager.append(put('todos', 't1', { title: 'Milk', tags: ['a'] }));
    await view.refresh();
    await manager.append(put('todos', 't1', { tags: ['a'], title: 'Milk' }));
    await view.refresh();
    expect((await drain(watcher)).map(brief)).toEqual(['create todos/t1={"title":"Milk","tags":["a"]}']);

    const byTitle = setup('c', {
      equals: (a, b) => (a as { title: string }).title === (b as { title: string }).title,
    });
    const titles = byTitle.view.watch();
    await byTitle.manager.append(put('todos', 't1', { title: 'Milk', note: 'one' }));
    await byTitle.view.refresh();
    await byTitle.manager.append(put('todos', 't1', { title: 'Milk', note: 'two' }));
    await byTitle.view.refresh();
    expect(await drain(titles)).toHaveLength(1);
    expect(byTitle.view.get('todos', 't1')).toEqual({ title: 'Milk', note: 'two' });
  });

  it('reports the net change of a refresh: an entry set and deleted in between is not reported', async () => {
    const { manager, view } = setup();
    const watcher = view.watch();
    // One append of three events, so one refresh folds them all: t1 comes and goes within one commit.
    await manager.append([put('todos', 't1', 1), remove('todos', 't1'), put('todos', 't2', 2)]);
    await view.refresh();
    expect((await drain(watcher)).map(brief)).toEqual(['create todos/t2=2']);
  });

  it('filters by change type, by kind, by key, and watches every key of a kind or every kind', async () => {
    const { manager, view } = setup();
    const deletes = view.watch({ types: ['delete'] });
    const todos = view.watch({ kind: 'todos' });
    const oneTodo = view.watch({ kind: 'todos', key: 't1' });
    const anyT1 = view.watch({ key: 't1' });
    const everything = view.watch();
    await manager.append([put('todos', 't1', 1), put('todos', 't2', 2), put('tags', 't1', 'red')]);
    await view.refresh();
    await manager.append([remove('todos', 't1'), remove('tags', 't1')]);
    await view.refresh();
    const sorted = async (watcher: Watcher<JsonValue>) => (await drain(watcher)).map(brief).sort();
    expect(await sorted(deletes)).toEqual(['delete tags/t1 (was "red")', 'delete todos/t1 (was 1)']);
    expect(await sorted(todos)).toEqual(['create todos/t1=1', 'create todos/t2=2', 'delete todos/t1 (was 1)']);
    expect(await sorted(oneTodo)).toEqual(['create todos/t1=1', 'delete todos/t1 (was 1)']);
    expect(await sorted(anyT1)).toEqual([
      'create tags/t1="red"',
      'create todos/t1=1',
      'delete tags/t1 (was "red")',
      'delete todos/t1 (was 1)',
    ]);
    expect(await sorted(everything)).toHaveLength(5);
  });

  it('notifies only after the change is committed, for local appends and for pulled events alike', async () => {
    const a = world.client('a');
    const { manager, store, view } = setup('b');
    await view.ready;
    // What the store holds at the moment each notification fires (the reads start synchronously).
    const atNotification: Promise<[string[], string]>[] = [];
    const seen: string[] = [];
    view.onChange((change) => {
      seen.push(brief(change));
      atNotification.push(
        Promise.all([store.pending(), store.cursor()]).then(([pending, cursor]) => [
          pending.map((entry) => entry.event.id),
          cursor.toString(),
        ]),
      );
    });
    const [local] = await manager.append(put('todos', 'mine', 1));
    await view.refresh();
    expect(seen).toEqual(['create todos/mine=1']);
    expect((await atNotification[0])?.[0]).toEqual([local!.id]);
    await a.manager.append(put('todos', 'theirs', 2));
    await a.manager.sync();
    expect(seen).toHaveLength(1); // not pulled yet: nothing to tell
    await manager.sync();
    await view.refresh();
    expect(seen).toEqual(['create todos/mine=1', 'create todos/theirs=2']);
    expect((await atNotification[1])?.[1]).not.toBe('0');
    expect(view.state.toJSON()).toEqual({ todos: { mine: 1, theirs: 2 } });
    await expectSyncError(() => manager.append({ type: '', aggregateId: 'x', data: null }), 'invalid_input');
    await view.refresh();
    expect(seen).toHaveLength(2); // a failed append commits nothing and tells nothing
  });

  it('replays the current state first, then live changes, with no gap and no duplicate', async () => {
    const { manager, view } = setup();
    await manager.append([put('todos', 't1', 1), put('todos', 't2', 2), put('tags', 'x', 'red')]);
    await view.refresh();
    const watcher = view.watch({ kind: 'todos', replay: true, bufferSize: 1 });
    await manager.append([put('todos', 't1', 10), put('todos', 't3', 3)]);
    await view.refresh();
    const first = await watcher.next();
    const second = await watcher.next();
    expect([first.value, second.value].map((change) => brief(change!)).sort()).toEqual([
      'create todos/t1=1',
      'create todos/t2=2',
    ]);
    // The buffer held one live change; the other was dropped (drop_newest): the replay never is.
    expect(watcher.stats.dropped).toBe(1);
    expect((await drain(watcher)).length).toBe(1);
  });

  it('replays into a callback after onChange returned, then goes on live', async () => {
    const { manager, view } = setup();
    await manager.append(put('todos', 't1', 1));
    await view.refresh();
    const seen: string[] = [];
    const stop = view.onChange((change) => void seen.push(brief(change)), { replay: true });
    expect(seen).toEqual([]);
    await manager.append(put('todos', 't1', 2));
    await view.refresh();
    await settle();
    expect(seen).toEqual(['create todos/t1=1', 'update todos/t1=2 (was 1)']);
    stop();
    stop();
  });

  it('holds a buffer of 128 by default and drops the newest beyond it', async () => {
    const { manager, view } = setup();
    const watcher = view.watch();
    await manager.append(Array.from({ length: 200 }, (_, i) => put('n', `k${i}`, i)));
    await view.refresh();
    expect(watcher.stats).toMatchObject({ queued: 128, dropped: 72, droppedBy: { buffer_full: 72 } });
  });

  it('keeps the latest changes with drop_oldest', async () => {
    const { manager, view } = setup();
    const watcher = view.watch({ bufferSize: 2, backpressure: 'drop_oldest' });
    for (let i = 0; i < 4; i++) {
      await manager.append(put('n', 'k', i));
      await view.refresh();
    }
    expect((await drain(watcher)).map(brief)).toEqual(['update n/k=2 (was 1)', 'update n/k=3 (was 2)']);
  });

  it('never drops with block: a watcher that fell behind catches up with the net changes', async () => {
    const { manager, view } = setup();
    const watcher = view.watch({ bufferSize: 2, backpressure: 'block' });
    const mirror = new Map<string, JsonValue>();
    for (let i = 0; i < 6; i++) {
      await manager.append([put('n', `k${i % 3}`, i), ...(i === 4 ? [remove('n', 'k0')] : [])]);
      await view.refresh();
    }
    expect(watcher.stats.queued).toBe(2);
    const changes = await drain(watcher);
    for (const change of changes) {
      if (change.type === 'create') expect(mirror.has(change.key)).toBe(false);
      else expect(mirror.get(change.key)).toEqual(change.previous);
      if (change.type === 'delete') mirror.delete(change.key);
      else mirror.set(change.key, change.value);
    }
    expect(Object.fromEntries(mirror)).toEqual(view.state.toJSON()['n']);
    expect(watcher.stats.dropped).toBe(0);
  });

  it('calls an async listener one change at a time and reports listeners that fail', async () => {
    const errors: unknown[] = [];
    const { manager, view } = setup('b', { onError: (error) => errors.push((error as Error).message) });
    const log: string[] = [];
    view.onChange(async (change) => {
      log.push(`start ${change.key}`);
      await settle();
      log.push(`end ${change.key}`);
    });
    view.onChange(() => {
      throw new Error('listener bug');
    });
    await manager.append(put('n', 'a', 1));
    await view.refresh();
    await manager.append(put('n', 'b', 1));
    await view.refresh();
    await settle();
    await settle();
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b']);
    expect(errors).toEqual(['listener bug', 'listener bug']);
  });

  it('cancels idempotently, when a for-await loop breaks, and when a signal aborts', async () => {
    const { manager, view } = setup();
    const watcher = view.watch();
    const pending = watcher.next();
    watcher.cancel();
    watcher.cancel();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(watcher.closed).toBe(true);

    const looped = view.watch({ replay: true });
    await manager.append([put('n', 'a', 1), put('n', 'b', 2)]);
    await view.refresh();
    for await (const change of looped) {
      expect(change.type).toBe('create');
      break;
    }
    expect(looped.closed).toBe(true);

    const controller = new AbortController();
    const signalled = view.watch({ signal: controller.signal });
    controller.abort();
    await manager.append(put('n', 'c', 3));
    await view.refresh();
    expect(signalled.closed).toBe(true);
    expect(signalled.stats).toMatchObject({ delivered: 0, queued: 0 });
    expect(() => view.watch({ signal: controller.signal })).toThrow();
  });

  it('ends every watch on close, and refuses watches after it and bad options', async () => {
    const { view } = setup();
    const watcher = view.watch();
    const pending = watcher.next();
    view.close();
    view.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    await expectSyncError(() => view.watch(), 'closed');
    await expectSyncError(() => view.onChange(() => {}), 'closed');
    await expectSyncError(() => view.refresh(), 'closed');
    const { view: open } = setup('c');
    await expectSyncError(() => open.watch({ types: ['created' as 'create'] }), 'invalid_input');
    await expectSyncError(() => open.watch({ bufferSize: 0 }), 'invalid_input');
    await expectSyncError(() => open.watch({ kind: 1 as unknown as string }), 'invalid_input');
    await expectSyncError(() => open.onChange('nope' as never), 'invalid_input');
    await expectSyncError(
      () => new KeyedProjection({ store: world.client('d').store, reducers: undefined as never }),
      'invalid_input',
    );
    open.close();
  });
});
