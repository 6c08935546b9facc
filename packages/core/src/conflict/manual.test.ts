import { makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { ResolveContext, ResolvedConflict } from './conflict.js';
import { DEFAULT_MANUAL_OPTIONS, manual } from './manual.js';

const context: ResolveContext = {
  createEvent: () => {
    throw new Error('manual makes no events');
  },
};

describe('manual', () => {
  it('parks the conflict with the local events untouched', () => {
    const local = new TestEvents({ clientId: 'phone' }).many(2);
    const remote = new TestEvents({ clientId: 'laptop' }).many(1);
    const result = manual().resolve(makeConflict(local, remote), context) as ResolvedConflict;
    expect(result.decision).toBe('park');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.resolvedEvents.every((event, index) => event === local[index])).toBe(true);
    expect(result.reasons).toEqual([
      'waiting for a decision',
      `2 local events (${local[0]!.id}, ${local[1]!.id}) parked against 1 remote event (${remote[0]!.id}) on aggregate "agg-0"`,
    ]);
    expect(DEFAULT_MANUAL_OPTIONS.reason).toBe('waiting for a decision');
  });

  it('records the reason it is given first', () => {
    const local = new TestEvents({ clientId: 'phone' }).many(1);
    const remote = new TestEvents({ clientId: 'laptop' }).many(1);
    const result = manual({ reason: 'two people renamed the list' }).resolve(
      makeConflict(local, remote),
      context,
    ) as ResolvedConflict;
    expect(result.reasons[0]).toBe('two people renamed the list');
  });

  it('refuses an empty reason', () => {
    expect(() => manual({ reason: '' })).toThrow(/options.reason must be a non-empty string/);
    expect(() => manual('later' as never)).toThrow(/must be an object/);
  });
});
