import { makeConflict, propertyOptions as seededProperties, TestEvents } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Event, JsonValue } from '../event/event.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import type { Conflict, ResolveContext, ResolvedConflict } from './conflict.js';
import { lastWriteWins } from './last-write-wins.js';

const propertyOptions = seededProperties();

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);

/** A client whose next event is stamped `ms` after T. */
function client(clientId: string) {
  let wall = T;
  const events = new TestEvents({ clientId, now: () => wall });
  return (ms: number, data: JsonValue = { title: clientId }): Event => {
    wall = T + ms;
    return events.make('todo-1', { type: 'todo.edited', data });
  };
}

const context: ResolveContext = {
  createEvent: () => {
    throw new Error('lastWriteWins makes no events');
  },
};

function resolve(conflict: Conflict): ResolvedConflict {
  return lastWriteWins().resolve(conflict, context) as ResolvedConflict;
}

/** An event with its timestamp and id replaced: for exact ties. */
function stamped(event: Event, timestamp: string, id: string): Event {
  return { ...event, id, metadata: { ...event.metadata, timestamp } };
}

describe('lastWriteWins', () => {
  it('keeps the local events when the latest local event is later', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const remote = laptop(1);
    const local = [phone(2), phone(3)];
    const result = resolve(makeConflict(local, [remote]));
    expect(result.decision).toBe('keep_local');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.resolvedEvents.map((event) => event.id)).toEqual(local.map((event) => event.id));
    expect(result.reasons[0]).toBe(
      `local event ${local[1]!.id} at ${local[1]!.metadata.timestamp} is later than ` +
        `remote event ${remote.id} at ${remote.metadata.timestamp}`,
    );
    expect(result.reasons[1]).toBe(`2 local events (${local[0]!.id}, ${local[1]!.id}) pushed again`);
  });

  it('drops the local events when the latest remote event is later', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1)];
    const remote = [laptop(2), laptop(5)];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_remote');
    expect(result.resolvedEvents).toEqual([]);
    expect(result.reasons[0]).toBe(
      `remote event ${remote[1]!.id} at ${remote[1]!.metadata.timestamp} is later than ` +
        `local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}`,
    );
    expect(result.reasons[1]).toBe(`1 local event (${local[0]!.id}) dropped`);
  });

  it('compares the latest events, not the first ones', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1), phone(10)];
    const remote = [laptop(5)];
    expect(resolve(makeConflict(local, remote)).decision).toBe('keep_local');
  });

  it('orders by the HLC counter and node within one millisecond', () => {
    const at = (counter: number, node: string) => new HlcTimestamp(T, counter, node).toString();
    const phone = client('phone');
    const base = phone(0);
    const local = stamped(base, at(2, 'phone'), '01KAV0000000000000000000AA');
    const remote = stamped(base, at(1, 'zed'), '01KAV0000000000000000000ZZ');
    expect(resolve(makeConflict([local], [remote])).decision).toBe('keep_local');
    const sameCounter = stamped(base, at(2, 'zed'), '01KAV0000000000000000000ZZ');
    expect(resolve(makeConflict([local], [sameCounter])).decision).toBe('keep_remote');
  });

  it('breaks a tie of equal timestamps by the higher event id', () => {
    const timestamp = new HlcTimestamp(T, 0, 'shared').toString();
    const base = client('shared')(0);
    const low = stamped(base, timestamp, '01KAV00000000000000000000A');
    const high = stamped(base, timestamp, '01KAV00000000000000000000B');

    const remoteHigher = resolve(makeConflict([low], [high]));
    expect(remoteHigher.decision).toBe('keep_remote');
    expect(remoteHigher.reasons[0]).toBe(
      `remote event ${high.id} and local event ${low.id} have the same timestamp ${timestamp}; ` +
        `the higher id, remote event ${high.id}, wins`,
    );

    const localHigher = resolve(makeConflict([high], [low]));
    expect(localHigher.decision).toBe('keep_local');
    expect(localHigher.resolvedEvents).toEqual([high]);
  });

  it('decides the same whatever the order the events are listed in', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1), phone(4)];
    const remote = [laptop(2), laptop(3)];
    const forward = resolve(makeConflict(local, remote));
    const backward = resolve(makeConflict([...local].reverse(), [...remote].reverse()));
    expect(backward.decision).toBe(forward.decision);
    expect(backward.reasons[0]).toBe(forward.reasons[0]);
  });

  describe('properties', () => {
    const id = fc.stringMatching(/^[0-7][0-9A-HJKMNP-TV-Z]{25}$/);
    const write = fc.record({
      wall: fc.integer({ min: 0, max: 5 }),
      counter: fc.integer({ min: 0, max: 2 }),
      node: fc.constantFrom('a', 'b', 'c'),
      id,
    });
    const sides = fc
      .record({
        local: fc.array(write, { minLength: 1, maxLength: 4 }),
        remote: fc.array(write, { minLength: 1, maxLength: 4 }),
      })
      .filter(
        ({ local, remote }) => new Set([...local, ...remote].map((w) => w.id)).size === local.length + remote.length,
      );

    const base = client('a')(0);
    const toEvent = (w: { wall: number; counter: number; node: string; id: string }): Event =>
      stamped(base, new HlcTimestamp(T + w.wall, w.counter, w.node).toString(), w.id);

    it('decides the same twice, and whatever the order of each side', () => {
      fc.assert(
        fc.property(sides, fc.nat(), ({ local, remote }, shift) => {
          const localEvents = local.map(toEvent);
          const remoteEvents = remote.map(toEvent);
          const first = resolve(makeConflict(localEvents, remoteEvents));
          const again = resolve(makeConflict(localEvents, remoteEvents));
          expect(again).toEqual(first);
          const rotate = <T>(items: T[]) => items.map((_, i) => items[(i + shift) % items.length] as T);
          const reordered = resolve(makeConflict(rotate(localEvents), [...remoteEvents].reverse()));
          expect(reordered.decision).toBe(first.decision);
          expect(reordered.reasons[0]).toBe(first.reasons[0]);
          expect(new Set(reordered.resolvedEvents.map((e) => e.id))).toEqual(
            new Set(first.resolvedEvents.map((e) => e.id)),
          );
        }),
        propertyOptions,
      );
    });

    it('picks the same winning side on both replicas of a two-sided conflict', () => {
      fc.assert(
        fc.property(sides, ({ local, remote }) => {
          const a = local.map(toEvent);
          const b = remote.map(toEvent);
          const onA = resolve(makeConflict(a, b));
          const onB = resolve(makeConflict(b, a));
          expect(onA.decision === 'keep_local').toBe(onB.decision === 'keep_remote');
        }),
        propertyOptions,
      );
    });
  });
});
