import { makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { Event } from '../event/event.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import type { Conflict, ResolveContext, ResolvedConflict } from './conflict.js';
import { firstWriteWins } from './first-write-wins.js';

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);

function client(clientId: string) {
  let wall = T;
  const events = new TestEvents({ clientId, now: () => wall });
  return (ms: number): Event => {
    wall = T + ms;
    return events.make('seat-12', { type: 'seat.booked', data: { by: clientId } });
  };
}

const context: ResolveContext = {
  createEvent: () => {
    throw new Error('firstWriteWins makes no events');
  },
};

function resolve(conflict: Conflict): ResolvedConflict {
  return firstWriteWins().resolve(conflict, context) as ResolvedConflict;
}

describe('firstWriteWins', () => {
  it('keeps the local events when the first local event is earlier', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(1), phone(9)];
    const remote = [laptop(5)];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_local');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.reasons[0]).toBe(
      `local event ${local[0]!.id} at ${local[0]!.metadata.timestamp} is earlier than ` +
        `remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp}`,
    );
    expect(result.reasons[1]).toBe(`2 local events (${local[0]!.id}, ${local[1]!.id}) pushed again`);
  });

  it('drops the local events when the first remote event is earlier', () => {
    const phone = client('phone');
    const laptop = client('laptop');
    const local = [phone(3)];
    const remote = [laptop(2), laptop(8)];
    const result = resolve(makeConflict(local, remote));
    expect(result.decision).toBe('keep_remote');
    expect(result.resolvedEvents).toEqual([]);
    expect(result.reasons).toEqual([
      `remote event ${remote[0]!.id} at ${remote[0]!.metadata.timestamp} is earlier than ` +
        `local event ${local[0]!.id} at ${local[0]!.metadata.timestamp}`,
      `1 local event (${local[0]!.id}) dropped`,
    ]);
  });

  it('breaks a tie of equal timestamps by the lower event id', () => {
    const timestamp = new HlcTimestamp(T, 0, 'shared').toString();
    const base = client('shared')(0);
    const low: Event = { ...base, id: '01KAV00000000000000000000A', metadata: { ...base.metadata, timestamp } };
    const high: Event = { ...base, id: '01KAV00000000000000000000B', metadata: { ...base.metadata, timestamp } };

    const localLower = resolve(makeConflict([low], [high]));
    expect(localLower.decision).toBe('keep_local');
    expect(localLower.reasons[0]).toBe(
      `local event ${low.id} and remote event ${high.id} have the same timestamp ${timestamp}; ` +
        `the lower id, local event ${low.id}, wins`,
    );
    expect(resolve(makeConflict([high], [low])).decision).toBe('keep_remote');
  });
});
