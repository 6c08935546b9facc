import { expectSyncError, makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { Event } from '../event/event.js';
import { CursorVersion } from '../version/cursor-version.js';
import type { Conflict, ConflictResolver, ResolveContext } from './conflict.js';
import { fieldMerge } from './field-merge.js';
import { firstWriteWins } from './first-write-wins.js';
import { keepBoth } from './keep-both.js';
import { lastWriteWins } from './last-write-wins.js';
import { localWins } from './local-wins.js';
import { manual } from './manual.js';
import { remoteWins } from './remote-wins.js';
import { ruleBased } from './rule-based.js';

// The checks every built-in resolver shares, run against each of them.

const phone = new TestEvents({ clientId: 'phone' });
const laptop = new TestEvents({ clientId: 'laptop' });
const local: Event[] = [phone.make('todo-1')];
const remote: Event[] = [laptop.make('todo-1')];

const conflict: Conflict = makeConflict(local, remote);

const context: ResolveContext = { createEvent: (input) => phone.factory.create(input) };

const resolvers: [string, ConflictResolver][] = [
  ['remoteWins', remoteWins()],
  ['localWins', localWins()],
  ['lastWriteWins', lastWriteWins()],
  ['firstWriteWins', firstWriteWins()],
  ['fieldMerge', fieldMerge()],
  ['keepBoth', keepBoth()],
  ['manual', manual()],
  ['ruleBased', ruleBased({ rules: [], fallback: localWins() })],
];

const malformed: [string, unknown, string][] = [
  ['a conflict that is not an object', null, 'conflict'],
  ['an empty aggregate id', { ...conflict, aggregateId: '' }, 'conflict.aggregateId'],
  ['an event type that is not a string', { ...conflict, eventType: 3 }, 'conflict.eventType'],
  ['changed fields that are not strings', { ...conflict, changedFields: [1] }, 'conflict.changedFields'],
  ['metadata that is an array', { ...conflict, metadata: [] }, 'conflict.metadata'],
  ['no local events', { ...conflict, local: [] }, 'conflict.local'],
  ['no remote events', { ...conflict, remote: [] }, 'conflict.remote'],
  ['a remote event without a version', { ...conflict, remote: [remote[0]] }, 'conflict.remote[0]'],
  ['a local event that is not an object', { ...conflict, local: ['x'] }, 'conflict.local[0]'],
  ['a local event without an id', { ...conflict, local: [{ ...local[0], id: '' }] }, 'conflict.local[0].id'],
  ['a local event without a type', { ...conflict, local: [{ ...local[0], type: '' }] }, 'conflict.local[0].type'],
  [
    'a local event on another aggregate',
    { ...conflict, local: [{ ...local[0], aggregateId: 'todo-2' }] },
    'conflict.local[0].aggregateId',
  ],
  [
    'a local event without metadata',
    { ...conflict, local: [{ ...local[0], metadata: null }] },
    'conflict.local[0].metadata',
  ],
  [
    'a malformed timestamp',
    { ...conflict, local: [{ ...local[0], metadata: { ...local[0]!.metadata, timestamp: '2026-01-01' } }] },
    'conflict.local[0].metadata.timestamp',
  ],
  [
    'an event that is both local and remote',
    { ...conflict, remote: [{ event: local[0], version: new CursorVersion(1) }] },
    'conflict.remote[0].event.id',
  ],
];

const badContexts: [string, unknown, string][] = [
  ['no context', undefined, 'context'],
  ['a context without createEvent', {}, 'context.createEvent'],
  ['a signal that is not an AbortSignal', { ...context, signal: 'stop' }, 'context.signal'],
];

describe.each(resolvers)('%s', (_name, resolver) => {
  it.each(malformed)('refuses %s', async (_case, bad, field) => {
    const error = await expectSyncError(() => resolver.resolve(bad as Conflict, context), 'invalid_input');
    expect(error.details.field).toBe(field);
  });

  it.each(badContexts)('refuses %s', async (_case, bad, field) => {
    const error = await expectSyncError(() => resolver.resolve(conflict, bad as ResolveContext), 'invalid_input');
    expect(error.details.field).toBe(field);
  });

  it('fails with the signal’s reason when the signal has fired', async () => {
    const controller = new AbortController();
    const reason = new Error('user left');
    controller.abort(reason);
    await expect(async () => resolver.resolve(conflict, { ...context, signal: controller.signal })).rejects.toBe(
      reason,
    );
  });

  it('decides a well-formed conflict with at least one reason', async () => {
    const result = await resolver.resolve(conflict, { ...context, signal: new AbortController().signal });
    expect(result.reasons.length).toBeGreaterThan(0);
    expect(Array.isArray(result.resolvedEvents)).toBe(true);
  });

  it('keeps the malformed timestamp as the cause', async () => {
    const bad = {
      ...conflict,
      remote: [
        {
          event: { ...remote[0]!, metadata: { ...remote[0]!.metadata, timestamp: 'x' } },
          version: new CursorVersion(1),
        },
      ],
    };
    const error = await expectSyncError(() => resolver.resolve(bad, context), 'invalid_input');
    expect(error.message).toBe(`remote event ${remote[0]!.id} has a malformed timestamp`);
    expect(error.cause).toBeInstanceOf(Error);
  });
});
