import { makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { ResolveContext, ResolvedConflict } from './conflict.js';
import { localWins } from './local-wins.js';

const context: ResolveContext = {
  createEvent: () => {
    throw new Error('localWins makes no events');
  },
};

describe('localWins', () => {
  it('keeps the local events themselves, in local order', () => {
    const local = new TestEvents({ clientId: 'phone' }).many(3);
    const remote = new TestEvents({ clientId: 'laptop' }).many(2);
    const conflict = makeConflict(local, remote);
    const result = localWins().resolve(conflict, context) as ResolvedConflict;
    expect(result.decision).toBe('keep_local');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.resolvedEvents.every((event, index) => event === local[index])).toBe(true);
    expect(result.resolvedEvents).not.toBe(conflict.local);
    expect(result.reasons).toEqual([
      `local wins: 3 local events (${local.map((event) => event.id).join(', ')}) pushed again after ` +
        `2 remote events (${remote.map((event) => event.id).join(', ')})`,
    ]);
  });
});
