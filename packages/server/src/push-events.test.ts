import { CheckedEvents, MemoryServerEventLog, type AppendOptions, type Event } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { pushEvents } from './push-events.js';
import { events } from '../test/support.js';

const identity = { principal: 'alice', tenant: 'acme' };

describe('pushEvents', () => {
  it('answers each pushed event in order: malformed, refused, or the log’s answer', async () => {
    const store = new MemoryServerEventLog();
    const seen: AppendOptions[] = [];
    const append = store.append.bind(store);
    store.append = (tenant, batch, options) => {
      if (options) seen.push(options);
      return append(tenant, batch, options);
    };
    const alice = events();
    const [first, secret, last] = [alice.make('todo-1'), alice.make('secret'), alice.make('todo-2')];
    const results = await pushEvents([first, { id: 'x', type: 42 }, secret, last], {
      store,
      identity,
      authorize: (event) => event.aggregateId !== 'secret' || 'not yours',
    });
    expect(results).toMatchObject([
      { id: first.id, status: 'accepted' },
      { id: 'x', status: 'rejected', code: 'invalid_event' },
      { id: secret.id, status: 'rejected', code: 'forbidden', reason: 'not yours' },
      { id: last.id, status: 'accepted' },
    ]);
    // One append, carrying the checks so the log does not validate again.
    expect(seen).toHaveLength(1);
    expect(seen[0]!.checked).toBeInstanceOf(CheckedEvents);
    expect(seen[0]!.checked!.size).toBe(3);
  });

  it('refuses the whole push, storing nothing, when one event is past maxEventBytes', async () => {
    const store = new MemoryServerEventLog();
    const alice = events();
    const big: Event = alice.make('todo-1', { data: { text: 'x'.repeat(2_000) } });
    await expect(
      pushEvents([alice.make('todo-0'), big], { store, identity, maxEventBytes: 1_000 }),
    ).rejects.toMatchObject({ code: 'limit_exceeded', details: { limit: 'maxEventBytes', eventId: big.id } });
    expect((await store.latestVersion('acme')).value).toBe(0);
  });
});
