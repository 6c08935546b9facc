import { expectSyncError, FakeClock } from '@eventsync/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualConnectivity } from '../sync/connectivity.js';
import type { SyncEventMap } from '../sync/sync-types.js';
import { createWorld, keepLocal, rejecting } from '../sync/test-support.js';
import type { Envelope } from './envelope.js';
import { EventBus } from './event-bus.js';
import { publishSyncLifecycle, SYNC_LIFECYCLE_SUBJECTS, type SyncLifecycleEnvelope } from './sync-lifecycle.js';

const todo = (aggregateId: string, title: string, type = 'todo.set') => ({ type, aggregateId, data: { title } });

/** Records every envelope of `bus` except `status.changed` (which comes with nearly every step). */
function record(bus: EventBus, pattern = '>'): Envelope[] {
  const seen: Envelope[] = [];
  bus.subscribe(pattern, (envelope) => void seen.push(envelope), {
    filter: (envelope) => !envelope.subject.endsWith('status.changed'),
  });
  return seen;
}

describe('publishSyncLifecycle', () => {
  let world: ReturnType<typeof createWorld>;
  let bus: EventBus;

  beforeEach(() => {
    world = createWorld();
    bus = new EventBus();
  });

  afterEach(async () => {
    bus.close();
    await world.close();
  });

  it('publishes appends, sync runs, pulls and acknowledgements of a real manager, in order, with the client id', async () => {
    const a = world.client('a');
    const b = world.client('b');
    publishSyncLifecycle(b.manager, bus);
    const seen = record(bus);
    const statuses = bus.subscribe<SyncEventMap['status.changed']>('status.changed');
    await a.manager.append(todo('t1', 'from a'));
    await a.manager.sync();
    const [mine] = await b.manager.append(todo('t2', 'from b'));
    await b.manager.sync();
    expect(seen.map((envelope) => envelope.subject)).toEqual([
      'event.appended',
      'sync.started',
      'sync.pulled',
      'event.acknowledged',
      'sync.completed',
    ]);
    const [appended, , pulled, acknowledged, completed] = seen as [
      SyncLifecycleEnvelope<'event.appended'>,
      SyncLifecycleEnvelope,
      SyncLifecycleEnvelope<'sync.pulled'>,
      SyncLifecycleEnvelope<'event.acknowledged'>,
      SyncLifecycleEnvelope<'sync.completed'>,
    ];
    expect(appended.payload.events[0]?.id).toBe(mine!.id);
    expect(pulled.payload.events.map((item) => item.event.data)).toEqual([{ title: 'from a' }]);
    expect(acknowledged.payload.acks.map((ack) => ack.id)).toEqual([mine!.id]);
    expect(completed.payload.result).toMatchObject({ pushed: 1, pulled: 1, acknowledged: 1 });
    expect(seen.every((envelope) => envelope.headers['clientId'] === 'b')).toBe(true);
    expect((await statuses.next()).value?.payload.status).toBeDefined();
  });

  it('publishes conflicts detected and resolved, and the outbox rebase between', async () => {
    const a = world.client('a');
    const b = world.client('b', { resolver: keepLocal });
    publishSyncLifecycle(b.manager, bus);
    const seen = record(bus, '*.*');
    await a.manager.append(todo('t1', 'from a'));
    await b.manager.append(todo('t1', 'from b'));
    await a.manager.sync();
    await b.manager.sync();
    const subjects = seen.map((envelope) => envelope.subject);
    expect(subjects.filter((subject) => /^(conflict|outbox)\./.test(subject))).toEqual([
      'conflict.detected',
      'outbox.rebased',
      'conflict.resolved',
    ]);
    const detected = seen.find((envelope) => envelope.subject === 'conflict.detected') as Envelope<
      SyncEventMap['conflict.detected']
    >;
    expect(detected.payload.record.conflict.aggregateId).toBe('t1');
  });

  it('publishes rejections and failed syncs', async () => {
    const a = world.client('a', { wrap: (transport) => rejecting(transport, 'todo.forbidden') });
    publishSyncLifecycle(a.manager, bus);
    const seen = record(bus);
    await a.manager.append(todo('t1', 'nope', 'todo.forbidden'));
    await a.manager.sync();
    world.network.partition('a');
    await expectSyncError(() => a.manager.sync(), 'network');
    const rejected = seen.find((envelope) => envelope.subject === 'event.rejected') as Envelope<
      SyncEventMap['event.rejected']
    >;
    expect(rejected.payload.rejections[0]).toMatchObject({ code: 'forbidden' });
    const failed = seen.find((envelope) => envelope.subject === 'sync.failed') as Envelope<SyncEventMap['sync.failed']>;
    expect(failed.payload.error.code).toBe('network');
    expect(seen.map((envelope) => envelope.subject).slice(-2)).toEqual(['sync.started', 'sync.failed']);
  });

  it('publishes connection changes', async () => {
    const clock = new FakeClock();
    const connectivity = manualConnectivity(true);
    const a = world.client('a', { timers: clock, connectivity, autoSync: { live: false } });
    publishSyncLifecycle(a.manager, bus);
    const changes = bus.subscribe<SyncEventMap['connection.changed']>('connection.changed');
    a.manager.start();
    connectivity.set(false);
    connectivity.set(true);
    a.manager.stop();
    const first = await changes.next();
    const second = await changes.next();
    expect([first.value?.payload.online, second.value?.payload.online]).toEqual([false, true]);
  });

  it('puts a prefix before every subject and publishes only the notifications asked for', async () => {
    const a = world.client('a');
    publishSyncLifecycle(a.manager, bus, { prefix: 'clients.a', subjects: ['sync.started', 'sync.completed'] });
    const seen = record(bus);
    await a.manager.append(todo('t1', 'x'));
    await a.manager.sync();
    expect(seen.map((envelope) => envelope.subject)).toEqual(['clients.a.sync.started', 'clients.a.sync.completed']);
  });

  it('stops when told to (idempotently), when the bus closes, and refuses bad options', async () => {
    const a = world.client('a');
    const stop = publishSyncLifecycle(a.manager, bus);
    const seen = record(bus);
    await a.manager.append(todo('t1', 'one'));
    stop();
    stop();
    await a.manager.append(todo('t1', 'two'));
    expect(seen.map((envelope) => envelope.subject)).toEqual(['event.appended']);

    const other = new EventBus();
    publishSyncLifecycle(a.manager, other);
    other.close();
    await a.manager.sync(); // publishes into a closed bus: stops quietly, no unhandled rejection
    expect(other.stats.published).toBe(0);

    expect(() => publishSyncLifecycle(a.manager, bus, { prefix: 'bad..prefix' })).toThrow(/Invalid subject/);
    expect(() => publishSyncLifecycle(a.manager, bus, { subjects: ['sync.nope' as 'sync.started'] })).toThrow(
      /Unknown lifecycle notification/,
    );
    await expectSyncError(() => publishSyncLifecycle(a.manager, other), 'closed');
    expect(SYNC_LIFECYCLE_SUBJECTS).toHaveLength(12);
  });
});
