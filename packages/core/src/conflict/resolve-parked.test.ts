import { expectSyncError, makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import { resolveParked } from './resolve-parked.js';

const phone = new TestEvents({ clientId: 'phone' });
const laptop = new TestEvents({ clientId: 'laptop' });

describe('resolveParked', () => {
  const local = phone.many(2);
  const remote = laptop.many(1);
  const conflict = makeConflict(local, remote);

  it('keeps the parked local events when the app keeps its own', () => {
    expect(resolveParked(conflict, 'keep_local')).toEqual({
      resolvedEvents: local,
      decision: 'keep_local',
      reasons: [`decided later: 2 local events (${local[0]!.id}, ${local[1]!.id}) pushed again`],
    });
  });

  it('drops the parked local events when the app keeps the remote side', () => {
    expect(resolveParked(conflict, 'keep_remote')).toEqual({
      resolvedEvents: [],
      decision: 'keep_remote',
      reasons: [`decided later: 2 local events (${local[0]!.id}, ${local[1]!.id}) dropped`],
    });
  });

  it('pushes the events the app made instead, as a merge', () => {
    const merged = phone.make('agg-0', { data: { n: 99 } });
    expect(resolveParked(conflict, { events: [merged] })).toEqual({
      resolvedEvents: [merged],
      decision: 'merge',
      reasons: [`decided later: 2 local events (${local[0]!.id}, ${local[1]!.id}) replaced by 1 new event`],
    });
    const chosen = resolveParked(conflict, { events: [merged], reasons: ['Ana merged both'], decision: 'keep_both' });
    expect(chosen.reasons).toEqual(['Ana merged both']);
    expect(chosen.decision).toBe('keep_both');
  });

  it('refuses a malformed choice', async () => {
    await expectSyncError(() => resolveParked(conflict, 'keep_mine' as never), 'invalid_input');
    await expectSyncError(() => resolveParked(conflict, { events: 'x' } as never), 'invalid_input');
    const invalid = await expectSyncError(
      () => resolveParked(conflict, { events: [{ ...local[0]!, id: 'not-a-ulid' }] }),
      'invalid_input',
    );
    expect(invalid.details.field).toBe('choice.events[0].id');
    const elsewhere = await expectSyncError(
      () => resolveParked(conflict, { events: [phone.make('agg-9')] }),
      'invalid_input',
    );
    expect(elsewhere.message).toMatch(/is on aggregate "agg-9", not the conflict's "agg-0"/);
    await expectSyncError(() => resolveParked(conflict, { events: [], reasons: [1] } as never), 'invalid_input');
    await expectSyncError(() => resolveParked(conflict, { events: [], decision: '' }), 'invalid_input');
  });

  it('refuses a malformed conflict', async () => {
    await expectSyncError(() => resolveParked({ ...conflict, local: [] }, 'keep_local'), 'invalid_input');
  });
});
