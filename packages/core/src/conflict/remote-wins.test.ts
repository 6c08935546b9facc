import { makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { ResolveContext, ResolvedConflict } from './conflict.js';
import { remoteWins } from './remote-wins.js';

const context: ResolveContext = {
  createEvent: () => {
    throw new Error('remoteWins makes no events');
  },
};

describe('remoteWins', () => {
  it('drops the local events and names both sides in its reason', () => {
    const local = new TestEvents({ clientId: 'phone' }).many(2);
    const remote = new TestEvents({ clientId: 'laptop' }).many(1);
    const result = remoteWins().resolve(makeConflict(local, remote), context) as ResolvedConflict;
    expect(result).toEqual({
      resolvedEvents: [],
      decision: 'keep_remote',
      reasons: [
        `remote wins: 2 local events (${local[0]!.id}, ${local[1]!.id}) dropped; 1 remote event (${remote[0]!.id}) stands`,
      ],
    });
  });

  it('lists at most ten ids in its reason', () => {
    const local = new TestEvents({ clientId: 'phone' }).many(12);
    const remote = new TestEvents({ clientId: 'laptop' }).many(1);
    const result = remoteWins().resolve(makeConflict(local, remote), context) as ResolvedConflict;
    expect(result.reasons[0]).toContain(`${local[9]!.id}, and 2 more) dropped`);
    expect(result.reasons[0]).not.toContain(local[10]!.id);
  });
});
