import { makeConflict, propertyOptions as seededProperties, TestEvents } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event, JsonValue } from '../event/event.js';
import type { EventInput } from '../event/event-factory.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import type { Conflict, ConflictResolver, ResolveContext, ResolvedConflict } from './conflict.js';
import { DEFAULT_FIELD_MERGE_OPTIONS, fieldMerge } from './field-merge.js';

const propertyOptions = seededProperties();

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);

/** A client whose next event is stamped `ms` after T. */
function client(clientId: string) {
  let wall = T;
  const events = new TestEvents({ clientId, now: () => wall });
  return (ms: number, data: JsonValue, input: Partial<Omit<EventInput, 'aggregateId' | 'data'>> = {}): Event => {
    wall = T + ms;
    // TestEvents puts data of its own in place of null.
    return { ...events.make('todo-1', { type: 'todo.edited', ...input, data }), data };
  };
}

const merger = new TestEvents({ clientId: 'phone', now: () => T + 1000 });
const context: ResolveContext = { createEvent: (input) => merger.factory.create(input) };

function resolve(conflict: Conflict, resolver = fieldMerge()): ResolvedConflict {
  return resolver.resolve(conflict, context) as ResolvedConflict;
}

describe('fieldMerge', () => {
  it('keeps the local events when the remote side changed other fields', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(5, { done: true })];
    const remote = [laptop(9, { title: 'Soy milk' })];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_local');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.reasons).toEqual([
      `the remote events changed none of the fields the local events changed; 1 local event (${local[0]!.id}) pushed again`,
      `field "done": only the local side changed it (local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}); local value kept`,
    ]);
  });

  it('drops the local events when a later remote event changed every local field', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1, { title: 'Oat milk', done: true })];
    const remote = [laptop(2, { title: 'Soy milk' }), laptop(3, { done: false, note: 'x' })];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_remote');
    expect(result.resolvedEvents).toEqual([]);
    expect(result.reasons[0]).toBe(
      `the remote side won every field the local events changed; 1 local event (${local[0]!.id}) dropped`,
    );
    expect(result.reasons.slice(1)).toEqual([
      `field "done": remote event ${remote[1]!.id} at ${remote[1]!.metadata.timestamp} is later than local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}; remote value kept`,
      `field "title": remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp} is later than local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}; remote value kept`,
    ]);
  });

  it('merges the fields the local side won into one new event', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1, { title: 'Oat milk', done: true })];
    const remote = [laptop(2, { title: 'Soy milk' })];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('merge');
    expect(result.resolvedEvents).toHaveLength(1);
    const merged = result.resolvedEvents[0]!;
    expect(merged).toMatchObject({ type: 'todo.edited', aggregateId: 'todo-1', data: { done: true } });
    expect(merged.id).not.toBe(local[0]!.id);
    expect(merged.metadata.clientId).toBe('phone');
    expect(result.reasons).toEqual([
      `merged: new todo.edited event ${merged.id} carries the 1 field the local side won (done); 1 local event (${local[0]!.id}) replaced`,
      `field "done": only the local side changed it (local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}); local value kept`,
      `field "title": remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp} is later than local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}; remote value kept`,
    ]);
  });

  it('merges when the local side won every field but the remote side also changed one', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(3, { title: 'Oat milk' }), phone(4, { title: 'Oat milk 2', done: true })];
    const remote = [laptop(2, { title: 'Soy milk' })];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('merge');
    expect(result.resolvedEvents.map((event) => event.data)).toEqual([{ done: true, title: 'Oat milk 2' }]);
    expect(result.reasons).toContain(
      `field "title": local event ${local[1]!.id} at ${local[1]!.metadata.timestamp} is later than remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp}; local value kept`,
    );
  });

  it('takes each field from the latest local event that changed it', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1, { title: 'A', done: false }), phone(2, { title: 'B' }), phone(10, { title: 'C' })];
    const remote = [laptop(5, { done: true, title: 'remote' })];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('merge');
    // done: the local write at 1 loses to the remote at 5; title: the local write at 10 wins with 'C'.
    expect(result.resolvedEvents[0]!.data).toEqual({ title: 'C' });
  });

  it('gives the merged event the type and application metadata of the latest local event', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [
      phone(1, { done: true }, { type: 'todo.checked' }),
      phone(
        2,
        { title: 'Oat' },
        { type: 'todo.renamed', metadata: { schemaVersion: 2, origin: 'ui', baseVersion: '7' } },
      ),
    ];
    const remote = [laptop(5, { done: false })];
    const merged = resolve(makeConflict(local, remote)).resolvedEvents[0]!;
    expect(merged.type).toBe('todo.renamed');
    expect(merged.data).toEqual({ title: 'Oat' });
    expect(merged.metadata.schemaVersion).toBe(2);
    expect(merged.metadata.origin).toBe('ui');
    expect(merged.metadata.baseVersion).toBeUndefined();
    expect(merged.metadata.timestamp).not.toBe(local[1]!.metadata.timestamp);
  });

  it('breaks a tie of equal timestamps on a field by the higher event id', () => {
    const timestamp = new HlcTimestamp(T, 0, 'shared').toString();
    const base = client('shared')(0, {});
    const event = (id: string, data: JsonValue): Event => ({
      ...base,
      id,
      data,
      metadata: { ...base.metadata, timestamp },
    });
    const low = event('01KAV00000000000000000000A', { title: 'low', done: true });
    const high = event('01KAV00000000000000000000B', { title: 'high' });
    const localLow = resolve(makeConflict([low], [high]));
    expect(localLow.decision).toBe('merge');
    expect(localLow.resolvedEvents[0]!.data).toEqual({ done: true });
    expect(localLow.reasons).toContain(
      `field "title": remote event ${high.id} and local event ${low.id} have the same timestamp ${timestamp}; the higher id, remote event ${high.id}, wins; remote value kept`,
    );
    const localHigh = resolve(makeConflict([high], [low]));
    expect(localHigh.decision).toBe('merge');
    expect(localHigh.resolvedEvents[0]!.data).toEqual({ title: 'high' });
  });

  it('keeps local events that change no field', () => {
    const local = [client('phone')(1, {}, { type: 'todo.touched' })];
    const remote = [client('laptop')(5, { title: 'x' })];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_local');
    expect(result.resolvedEvents).toEqual(local);
  });

  it('treats __proto__ and constructor as plain fields', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [
      phone(5, JSON.parse('{"__proto__": {"polluted": true}, "constructor": "local", "title": "x"}') as JsonValue),
    ];
    const remote = [laptop(9, JSON.parse('{"constructor": "remote"}') as JsonValue)];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('merge');
    const data = result.resolvedEvents[0]!.data as Record<string, JsonValue>;
    expect(Object.keys(data).sort()).toEqual(['__proto__', 'title']);
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).toEqual({ polluted: true });
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.hasOwn(data, 'constructor')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(result.reasons).toContain(
      `field "constructor": remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp} is later than local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}; remote value kept`,
    );
    expect(result.reasons.some((reason) => reason.startsWith('field "__proto__": only the local side'))).toBe(true);
  });

  it.each<[string, JsonValue, 'local' | 'remote']>([
    ['a string', 'Oat milk', 'local'],
    ['null', null, 'remote'],
    ['an array', ['a'], 'local'],
    ['a number', 3, 'remote'],
  ])('falls back to lastWriteWins when some data are %s', (kind, data, side) => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1, side === 'local' ? data : { title: 'x' })];
    const remote = [laptop(2, side === 'remote' ? data : { title: 'y' })];
    const culprit = side === 'local' ? local[0]! : remote[0]!;
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_remote');
    expect(result.resolvedEvents).toEqual([]);
    expect(result.reasons[0]).toBe(
      `${side} event ${culprit.id} at ${culprit.metadata.timestamp} has data that are ${kind}, not an object of fields; the fallback decides`,
    );
    expect(result.reasons.slice(1)).toEqual([
      `fallback: remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp} is later than local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}`,
      `fallback: 1 local event (${local[0]!.id}) dropped`,
    ]);
  });

  it('uses the fallback it is given, and awaits one that answers asynchronously', async () => {
    const local = [client('phone')(1, 'text')];
    const remote = [client('laptop')(2, 'other')];
    const fallback: ConflictResolver = {
      resolve: async (conflict) => ({
        resolvedEvents: conflict.local,
        decision: 'keep_local',
        reasons: ['asked a person'],
      }),
    };
    const pending = fieldMerge({ fallback }).resolve(makeConflict(local, remote), context);
    expect(pending).toBeInstanceOf(Promise);
    const result = await pending;
    expect(result.decision).toBe('keep_local');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.reasons[1]).toBe('fallback: asked a person');
  });

  it('rejects with the signal’s reason when it fires while the fallback works', async () => {
    const controller = new AbortController();
    const fallback: ConflictResolver = {
      resolve: async () => {
        controller.abort(new Error('user left'));
        return { resolvedEvents: [], decision: 'keep_remote', reasons: [] };
      },
    };
    const local = [client('phone')(1, 'text')];
    const remote = [client('laptop')(2, 'other')];
    await expect(
      fieldMerge({ fallback }).resolve(makeConflict(local, remote), { ...context, signal: controller.signal }),
    ).rejects.toThrow('user left');
  });

  it('refuses a fallback that is not a resolver', () => {
    expect(() => fieldMerge({ fallback: {} as ConflictResolver })).toThrow(
      /options.fallback must be a conflict resolver/,
    );
    expect(() => fieldMerge(null as never)).toThrow(/must be an object/);
  });

  it('defaults its fallback to lastWriteWins', () => {
    expect(typeof DEFAULT_FIELD_MERGE_OPTIONS.fallback.resolve).toBe('function');
  });

  describe('properties', () => {
    const fieldNames = fc.constantFrom('title', 'done', 'note', '__proto__', 'constructor');
    const fields = fc.uniqueArray(fc.tuple(fieldNames, fc.integer({ min: 0, max: 3 })), {
      selector: ([name]) => name,
      maxLength: 4,
    });
    const write = fc.record({
      wall: fc.integer({ min: 0, max: 4 }),
      counter: fc.integer({ min: 0, max: 1 }),
      node: fc.constantFrom('a', 'b'),
      id: fc.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/),
      fields,
    });
    const sides = fc
      .record({
        local: fc.array(write, { minLength: 1, maxLength: 4 }),
        remote: fc.array(write, { minLength: 1, maxLength: 4 }),
      })
      .filter(
        ({ local, remote }) => new Set([...local, ...remote].map((w) => w.id)).size === local.length + remote.length,
      );

    const base = client('a')(0, {});
    type Write = { wall: number; counter: number; node: string; id: string; fields: [string, number][] };
    const toEvent = (w: Write): Event => ({
      ...base,
      id: w.id,
      data: Object.fromEntries(w.fields),
      metadata: { ...base.metadata, timestamp: new HlcTimestamp(T + w.wall, w.counter, w.node).toString() },
    });
    // A createEvent that makes the same event from the same input, so two runs can be compared whole.
    const stable: ResolveContext = {
      createEvent: (input) => ({
        id: '01KAVMERGE0000000000000000',
        type: input.type,
        aggregateId: input.aggregateId,
        data: JSON.parse(JSON.stringify(input.data)) as JsonValue,
        metadata: { timestamp: new HlcTimestamp(T + 99, 0, 'a').toString(), clientId: 'a' },
      }),
    };
    const run = (local: Event[], remote: Event[]) =>
      fieldMerge().resolve(makeConflict(local, remote), stable) as ResolvedConflict;
    const pushedFields = (result: ResolvedConflict) =>
      new Set(result.resolvedEvents.flatMap((event) => Object.keys(event.data as Record<string, JsonValue>)));

    it('decides the same twice, and whatever the order of each side', () => {
      fc.assert(
        fc.property(sides, fc.nat(), ({ local, remote }, shift) => {
          const localEvents = local.map(toEvent);
          const remoteEvents = remote.map(toEvent);
          const first = run(localEvents, remoteEvents);
          expect(run(localEvents, remoteEvents)).toEqual(first);
          const rotate = <T>(items: T[]) => items.map((_, i) => items[(i + shift) % items.length] as T);
          const reordered = run(rotate(localEvents), [...remoteEvents].reverse());
          expect(reordered.decision).toBe(first.decision);
          expect(reordered.reasons.slice(1)).toEqual(first.reasons.slice(1));
          expect(pushedFields(reordered)).toEqual(pushedFields(first));
          if (first.decision === 'merge') expect(reordered.resolvedEvents).toEqual(first.resolvedEvents);
        }),
        propertyOptions,
      );
    });

    it('gives each field both sides changed to exactly one side on the two replicas', () => {
      fc.assert(
        fc.property(sides, ({ local, remote }) => {
          const a = local.map(toEvent);
          const b = remote.map(toEvent);
          const onA = pushedFields(run(a, b));
          const onB = pushedFields(run(b, a));
          const changedByA = new Set(local.flatMap((w) => w.fields.map(([name]) => name)));
          const changedByB = new Set(remote.flatMap((w) => w.fields.map(([name]) => name)));
          for (const field of changedByA) {
            if (!changedByB.has(field)) continue;
            expect(onA.has(field) !== onB.has(field), `field ${field}`).toBe(true);
          }
        }),
        propertyOptions,
      );
    });
  });
});
