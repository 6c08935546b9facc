import { catchSyncError } from '@eventsync/testkit';
import { decodeTime } from 'ulid';
import { describe, expect, it } from 'vitest';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import { HybridLogicalClock } from '../version/hybrid-logical-clock.js';
import type { JsonValue } from './event.js';
import { EventFactory } from './event-factory.js';
import { ULID_PATTERN, validateEvent } from './validate-event.js';

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);

function factoryOn(now: () => number, clientId = 'phone-1'): EventFactory {
  return new EventFactory({ clientId, clock: new HybridLogicalClock({ node: clientId, now }) });
}

function add(factory: EventFactory, data: JsonValue = { title: 'Milk' }) {
  return factory.create({ type: 'todo.added', aggregateId: 'todo-1', data });
}

describe('EventFactory', () => {
  it('makes a valid event with a ULID, an HLC timestamp of its client and the client id', () => {
    const factory = factoryOn(() => T);
    const event = add(factory);
    expect(() => validateEvent(event)).not.toThrow();
    expect(event.id).toMatch(ULID_PATTERN);
    expect(event.type).toBe('todo.added');
    expect(event.aggregateId).toBe('todo-1');
    expect(event.data).toEqual({ title: 'Milk' });
    expect(event.metadata).toEqual({ timestamp: '2026-11-24T18:40:15.123Z-00000000-phone-1', clientId: 'phone-1' });
    expect(HlcTimestamp.parse(event.metadata.timestamp).node).toBe('phone-1');
  });

  it('puts the timestamp’s wall time into the id', () => {
    const event = add(factoryOn(() => T));
    expect(decodeTime(event.id)).toBe(T);
  });

  it('makes a new HLC on Date.now when given no clock', () => {
    const before = Date.now();
    const event = add(new EventFactory({ clientId: 'phone-1' }));
    const timestamp = HlcTimestamp.parse(event.metadata.timestamp);
    expect(timestamp.wallTime).toBeGreaterThanOrEqual(before);
    expect(timestamp.node).toBe('phone-1');
  });

  it.each<[string, (i: number) => number]>([
    ['a moving clock', (i) => T + i],
    ['a frozen clock', () => T],
    ['a clock going backwards', (i) => T - i * 1000],
    ['a clock jumping back and forth', (i) => T + (i % 2 === 0 ? i : -i) * 7],
  ])('issues strictly increasing ids and timestamps with %s', (_name, wall) => {
    let i = 0;
    const factory = factoryOn(() => wall(i++));
    const events = Array.from({ length: 500 }, () => add(factory));
    for (let k = 1; k < events.length; k++) {
      const [previous, current] = [events[k - 1]!, events[k]!];
      expect(current.id > previous.id, `${current.id} after ${previous.id}`).toBe(true);
      expect(current.metadata.timestamp > previous.metadata.timestamp).toBe(true);
      expect(
        HlcTimestamp.parse(current.metadata.timestamp).compare(HlcTimestamp.parse(previous.metadata.timestamp)),
      ).toBe(1);
    }
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length);
    expect(events.every((event) => ULID_PATTERN.test(event.id))).toBe(true);
  });

  it('stamps later events after a timestamp its shared clock received', () => {
    const clock = new HybridLogicalClock({ node: 'phone-1', now: () => T });
    const factory = new EventFactory({ clientId: 'phone-1', clock });
    const remote = new HlcTimestamp(T + 60_000, 4, 'laptop');
    clock.receive(remote);
    expect(HlcTimestamp.parse(add(factory).metadata.timestamp).compare(remote)).toBe(1);
  });

  it('copies the data, so changing the input afterwards changes nothing', () => {
    const data = { title: 'Milk', tags: ['shopping'], nested: { count: 1 } };
    const event = add(
      factoryOn(() => T),
      data,
    );
    data.title = 'Bread';
    data.tags.push('urgent');
    data.nested.count = 99;
    expect(event.data).toEqual({ title: 'Milk', tags: ['shopping'], nested: { count: 1 } });
  });

  it('copies the metadata, so changing the input afterwards changes nothing', () => {
    const app = { device: 'ios' };
    const metadata = { baseVersion: '3', app };
    const event = factoryOn(() => T).create({ type: 't', aggregateId: 'a', data: null, metadata });
    app.device = 'android';
    metadata.baseVersion = '4';
    expect(event.metadata.baseVersion).toBe('3');
    expect(event.metadata.app).toEqual({ device: 'ios' });
  });

  it('keeps the optional and the application’s own metadata', () => {
    const event = factoryOn(() => T).create({
      type: 't',
      aggregateId: 'a',
      data: 1,
      metadata: { baseVersion: '0', schemaVersion: 2, tenant: 'acme', app: { device: 'ios' } },
    });
    expect(event.metadata).toMatchObject({
      baseVersion: '0',
      schemaVersion: 2,
      tenant: 'acme',
      app: { device: 'ios' },
    });
  });

  it('leaves out metadata keys given as undefined', () => {
    const event = factoryOn(() => T).create({
      type: 't',
      aggregateId: 'a',
      data: 1,
      metadata: { baseVersion: undefined },
    });
    expect('baseVersion' in event.metadata).toBe(false);
  });

  it('stamps its own timestamp and client id over any given', () => {
    const metadata = { timestamp: '1970-01-01T00:00:00.000Z-00000000-evil', clientId: 'evil' } as Record<
      string,
      string
    >;
    const event = factoryOn(() => T).create({ type: 't', aggregateId: 'a', data: 1, metadata });
    expect(event.metadata.clientId).toBe('phone-1');
    expect(event.metadata.timestamp).toBe('2026-11-24T18:40:15.123Z-00000000-phone-1');
  });

  it('keeps __proto__ keys in data as plain data and pollutes no prototype', () => {
    const data = JSON.parse(
      '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"a":1}',
    ) as JsonValue;
    const event = add(
      factoryOn(() => T),
      data,
    );
    const copy = event.data as Record<string, unknown>;
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'constructor', 'a']);
    expect(Object.getOwnPropertyDescriptor(copy, '__proto__')?.value).toEqual({ polluted: true });
    expect(copy.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(event.data)).toBe(JSON.stringify(data));
  });

  it('keeps __proto__ keys in metadata as plain data and pollutes no prototype', () => {
    const metadata = JSON.parse('{"__proto__":{"polluted":true}}') as Record<string, JsonValue>;
    const event = factoryOn(() => T).create({ type: 't', aggregateId: 'a', data: 1, metadata });
    expect(Object.getPrototypeOf(event.metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(event.metadata, '__proto__')?.value).toEqual({ polluted: true });
    expect(event.metadata.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a clock of another node', () => {
    const error = catchSyncError(
      () => new EventFactory({ clientId: 'phone-1', clock: new HybridLogicalClock({ node: 'laptop' }) }),
      'invalid_input',
    );
    expect(error.details.field).toBe('clock');
  });

  it.each(['', 'a b', 'n'.repeat(129)])('refuses the client id %j', (clientId) => {
    catchSyncError(() => new EventFactory({ clientId }), 'invalid_input');
  });

  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;

  it.each<[string, () => Parameters<EventFactory['create']>[0], string]>([
    ['an empty type', () => ({ type: '', aggregateId: 'a', data: 1 }), 'type'],
    ['an empty aggregateId', () => ({ type: 't', aggregateId: '', data: 1 }), 'aggregateId'],
    ['NaN in data', () => ({ type: 't', aggregateId: 'a', data: { n: Number.NaN } }), 'data.n'],
    [
      'a Date in data',
      () => ({ type: 't', aggregateId: 'a', data: { at: new Date(0) as unknown as JsonValue } }),
      'data.at',
    ],
    ['a bigint in data', () => ({ type: 't', aggregateId: 'a', data: { n: 1n as unknown as JsonValue } }), 'data.n'],
    ['a cycle in data', () => ({ type: 't', aggregateId: 'a', data: cycle as JsonValue }), 'data.self'],
    [
      'a bad baseVersion',
      () => ({ type: 't', aggregateId: 'a', data: 1, metadata: { baseVersion: '01' } }),
      'metadata.baseVersion',
    ],
    [
      'NaN in metadata',
      () => ({ type: 't', aggregateId: 'a', data: 1, metadata: { score: Number.NaN } }),
      'metadata.score',
    ],
    [
      'a Date in metadata',
      () => ({ type: 't', aggregateId: 'a', data: 1, metadata: { at: new Date(0) as unknown as JsonValue } }),
      'metadata.at',
    ],
    [
      'a bigint in metadata',
      () => ({ type: 't', aggregateId: 'a', data: 1, metadata: { n: 1n as unknown as JsonValue } }),
      'metadata.n',
    ],
    [
      'a cycle in metadata',
      () => ({ type: 't', aggregateId: 'a', data: 1, metadata: { loop: cycle as JsonValue } }),
      'metadata.loop.self',
    ],
  ])('refuses %s with invalid_input', (_name, input, field) => {
    const error = catchSyncError(() => factoryOn(() => T).create(input()), 'invalid_input');
    expect(error.details.field).toBe(field);
  });

  it('applies its limits', () => {
    const factory = new EventFactory({
      clientId: 'phone-1',
      clock: new HybridLogicalClock({ node: 'phone-1', now: () => T }),
      limits: { maxEventBytes: 300 },
    });
    expect(factory.limits.maxEventBytes).toBe(300);
    expect(factory.limits.maxDepth).toBe(32);
    expect(() => add(factory, { text: 'x'.repeat(10) })).not.toThrow();
    const error = catchSyncError(() => add(factory, { text: 'x'.repeat(300) }), 'limit_exceeded');
    expect(error.details.limit).toBe('maxEventBytes');
  });
});
