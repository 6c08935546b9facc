/**
 * Two devices record todo events offline, then sync them through a server log by hand: push the
 * outbox, read the answers per event, pull what the other device wrote, and see a conflict when both
 * edited the same todo. This is the data path that `SyncManager` automates.
 */
import {
  CursorVersion,
  EventFactory,
  MemoryEventStore,
  MemoryServerEventLog,
  type Event,
  type ServerEventLog,
} from '@eventsync/core';

const TENANT = 'demo';

interface Device {
  readonly name: string;
  readonly events: EventFactory;
  readonly store: MemoryEventStore;
}

function device(name: string): Device {
  return { name, events: new EventFactory({ clientId: name }), store: new MemoryEventStore() };
}

/** The last server version of an aggregate this device has seen: the `baseVersion` of its next edit. */
async function baseVersion(device: Device, aggregateId: string): Promise<string> {
  const seen = await device.store.loadByAggregate(aggregateId, CursorVersion.ZERO);
  return (seen.at(-1)?.version ?? CursorVersion.ZERO).toString();
}

async function record(device: Device, type: string, aggregateId: string, data: Event['data']): Promise<void> {
  const event = device.events.create({
    type,
    aggregateId,
    data,
    metadata: { baseVersion: await baseVersion(device, aggregateId) },
  });
  await device.store.appendLocal([event]);
  console.log(`  ${device.name} recorded ${type} on ${aggregateId} (pending)`);
}

async function push(device: Device, log: ServerEventLog): Promise<void> {
  const pending = await device.store.pending();
  if (pending.length === 0) return;
  const results = await log.append(
    TENANT,
    pending.map((entry) => entry.event),
  );
  for (const result of results) {
    const event = pending.find((entry) => entry.event.id === result.id)?.event;
    const what = `${event?.type ?? '?'} on ${event?.aggregateId ?? '?'}`;
    switch (result.status) {
      case 'accepted':
      case 'duplicate':
        await device.store.acknowledge([{ id: result.id, version: result.version }]);
        console.log(`  ${device.name} push: ${what} → ${result.status} at version ${result.version.toString()}`);
        break;
      case 'conflict':
        console.log(`  ${device.name} push: ${what} → conflict (${result.reason})`);
        break;
      case 'rejected':
        await device.store.reject([{ id: result.id, code: result.code, reason: result.reason }]);
        console.log(`  ${device.name} push: ${what} → rejected (${result.reason})`);
        break;
    }
  }
}

async function pull(device: Device, log: ServerEventLog): Promise<void> {
  for (;;) {
    const page = await log.read(TENANT, { since: await device.store.cursor(), limit: 100 });
    const { stored } = await device.store.applyPulled({ events: page.events, cursor: page.next });
    console.log(`  ${device.name} pull: ${stored} new event(s), cursor now ${page.next.toString()}`);
    if (!page.hasMore) return;
  }
}

async function titles(device: Device): Promise<string> {
  const todos = new Map<string, string>();
  const confirmed = (await device.store.load(CursorVersion.ZERO)).map((item) => item.event);
  const pending = (await device.store.pending()).map((entry) => entry.event);
  for (const event of [...confirmed, ...pending]) {
    const data = event.data as { title?: string };
    if (event.type === 'todo.deleted') todos.delete(event.aggregateId);
    else if (data.title !== undefined) todos.set(event.aggregateId, data.title);
  }
  return [...todos.values()].map((title) => JSON.stringify(title)).join(', ') || '(empty)';
}

async function main(): Promise<void> {
  const log = new MemoryServerEventLog();
  const phone = device('phone');
  const laptop = device('laptop');

  console.log('1. The phone works offline:');
  await record(phone, 'todo.added', 'todo-1', { title: 'Buy milk' });
  await record(phone, 'todo.added', 'todo-2', { title: 'Call the bank' });

  console.log('2. The phone syncs, then the laptop:');
  await push(phone, log);
  await pull(phone, log);
  await pull(laptop, log);

  console.log('3. Both edit todo-1 while apart:');
  await record(phone, 'todo.renamed', 'todo-1', { title: 'Buy oat milk' });
  await record(laptop, 'todo.renamed', 'todo-1', { title: 'Buy milk and bread' });

  console.log('4. The laptop syncs first; the phone, second, is told of the conflict:');
  await push(laptop, log);
  await push(phone, log);
  await pull(phone, log);

  console.log('5. The phone resolves by keeping its title on top of the laptop’s, and syncs again:');
  const [stale] = await phone.store.pending({ aggregateId: 'todo-1' });
  if (stale) {
    const rebased = phone.events.create({
      type: stale.event.type,
      aggregateId: 'todo-1',
      data: stale.event.data,
      metadata: { baseVersion: await baseVersion(phone, 'todo-1') },
    });
    await phone.store.updateOutbox({ remove: [stale.event.id], add: [rebased] });
  }
  await push(phone, log);
  await pull(phone, log);
  await pull(laptop, log);

  console.log(`\nphone  sees: ${await titles(phone)}`);
  console.log(`laptop sees: ${await titles(laptop)}`);
  console.log(`server log holds ${(await log.latestVersion(TENANT)).toString()} events for tenant ${TENANT}.`);
  await Promise.all([phone.store.close(), laptop.store.close(), log.close()]);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
