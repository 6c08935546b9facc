import { describe, expect, it } from 'vitest';
import type { Event } from '../event/event.js';
import { SyncError } from '../errors/sync-error.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import { CheckedEvents, recordedJson } from './checked-events.js';
import { decideAppend, type AppendLookup } from './decide-append.js';

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);
const EMPTY: AppendLookup = { existing: () => undefined, foreignAfter: () => undefined };

function event(n: number, data: unknown = { n }): Event {
  return {
    id: `01JD${String(n).padStart(22, '0')}`,
    type: 'todo.changed',
    aggregateId: `todo-${n}`,
    data: data as Event['data'],
    metadata: { timestamp: new HlcTimestamp(T + n, 0, 'alice').toString(), clientId: 'alice', baseVersion: '0' },
  };
}

/** An event as a caller holding it could change it. */
type Changeable = Record<'id' | 'type' | 'aggregateId', string> & { metadata: Record<string, unknown> };

/** `JSON.parse(JSON.stringify(value))`: a pushed event as the server gets it. */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('CheckedEvents', () => {
  it('validates an event, records it and returns its JSON', () => {
    const checked = new CheckedEvents();
    const pushed = event(1);
    expect(checked.check(pushed)).toBe(JSON.stringify(pushed));
    expect(checked.size).toBe(1);
    expect(checked.jsonFor(pushed)).toBe(JSON.stringify(pushed));
  });

  it('throws what validateEvent throws for an invalid event, and records nothing', () => {
    const checked = new CheckedEvents();
    for (const bad of [null, 'event', { ...event(1), type: '' }, { ...event(1), data: { x: Number.NaN } }]) {
      expect(() => checked.check(bad)).toThrow(SyncError);
      expect(checked.jsonFor(bad)).toBeUndefined();
    }
    expect(() => checked.check(event(2, 'x'.repeat(100)), { maxEventBytes: 50 })).toThrow(/maxEventBytes/);
    expect(checked.size).toBe(0);
  });

  it('covers only the very object it checked, not an equal copy', () => {
    const checked = new CheckedEvents();
    const pushed = event(1);
    checked.check(pushed);
    expect(checked.jsonFor(copy(pushed))).toBeUndefined();
  });

  it('covers a log whose bounds are as loose or looser, not one with stricter shape bounds', () => {
    const checked = new CheckedEvents();
    const pushed = event(1);
    checked.check(pushed, { maxEventBytes: Number.POSITIVE_INFINITY });
    expect(checked.jsonFor(pushed, { maxTypeLength: 1000, maxAggregateIdLength: 1000, maxDepth: 64 })).toBeDefined();
    expect(checked.jsonFor(pushed, { maxTypeLength: 255 })).toBeUndefined();
    expect(checked.jsonFor(pushed, { maxAggregateIdLength: 20 })).toBeUndefined();
    expect(checked.jsonFor(pushed, { maxDepth: 3 })).toBeUndefined();
  });

  it('measures the JSON against the log’s maxEventBytes, in UTF-8 bytes', () => {
    const checked = new CheckedEvents();
    const pushed = event(1, { title: 'é'.repeat(100) });
    const json = checked.check(pushed, { maxEventBytes: Number.POSITIVE_INFINITY });
    const bytes = Buffer.byteLength(json);
    expect(checked.jsonFor(pushed, { maxEventBytes: bytes })).toBe(json);
    expect(checked.jsonFor(pushed, { maxEventBytes: bytes - 1 })).toBeUndefined();
  });

  it.each<[string, (event: Changeable) => void]>([
    ['id', (e) => void (e.id = '01JD0000000000000000000999')],
    ['type', (e) => void (e.type = 'todo.other')],
    ['aggregateId', (e) => void (e.aggregateId = 'todo-other')],
    ['metadata', (e) => void (e.metadata = { ...e.metadata })],
    ['metadata.clientId', (e) => void (e.metadata.clientId = 'mallory')],
    ['metadata.baseVersion', (e) => void (e.metadata.baseVersion = '7')],
    ['metadata.tenant', (e) => void (e.metadata.tenant = 'other')],
  ])('stops covering an event whose %s changed after the check', (_field, change) => {
    const checked = new CheckedEvents();
    const pushed = event(1);
    checked.check(pushed);
    change(pushed);
    expect(checked.jsonFor(pushed)).toBeUndefined();
  });

  it('is trusted only as a real instance: a look-alike object covers nothing', () => {
    const pushed = event(1);
    const lookAlike = { jsonFor: () => '{}', check: () => '{}', size: 1 };
    expect(recordedJson(lookAlike, pushed, {})).toBeUndefined();
    expect(recordedJson(null, pushed, {})).toBeUndefined();
    const checked = new CheckedEvents();
    checked.check(pushed);
    // Replaced methods do not change what a log reads.
    Object.defineProperty(checked, 'jsonFor', { value: () => '{"forged":true}' });
    expect(recordedJson(checked, pushed, {})).toBe(JSON.stringify(pushed));
  });
});

describe('decideAppend with checked events', () => {
  it('stores the JSON each check made', () => {
    const checked = new CheckedEvents();
    const batch = [event(1), event(2)];
    const jsons = batch.map((pushed) => checked.check(pushed));
    const decision = decideAppend('acme', batch, 0, EMPTY, {}, checked);
    expect(decision.results.map((result) => result.status)).toEqual(['accepted', 'accepted']);
    expect(decision.accepted.map(({ json }) => json)).toEqual(jsons);
  });

  it('still rejects an event the checks do not cover', () => {
    const checked = new CheckedEvents();
    const good = event(1);
    checked.check(good);
    const bad = { ...event(2), metadata: { clientId: 'alice' } } as unknown as Event;
    const decision = decideAppend('acme', [good, bad], 0, EMPTY, {}, checked);
    expect(decision.results.map((result) => result.status)).toEqual(['accepted', 'rejected']);
    expect(decision.results[1]).toMatchObject({ code: 'invalid_event' });
  });

  it('validates again an event changed into an invalid one after its check', () => {
    const checked = new CheckedEvents();
    const pushed = event(1);
    checked.check(pushed);
    (pushed as { aggregateId: string }).aggregateId = '';
    const decision = decideAppend('acme', [pushed], 0, EMPTY, {}, checked);
    expect(decision.results[0]).toMatchObject({ status: 'rejected', code: 'invalid_event' });
  });

  it('applies the log’s own bounds to a checked event', () => {
    const checked = new CheckedEvents();
    const pushed = event(1, 'x'.repeat(500));
    checked.check(pushed, { maxEventBytes: Number.POSITIVE_INFINITY });
    const decision = decideAppend('acme', [pushed], 0, EMPTY, { maxEventBytes: 400 }, checked);
    expect(decision.results[0]).toMatchObject({ status: 'rejected', code: 'invalid_event' });
    expect(decision.results[0]).toMatchObject({ reason: expect.stringContaining('maxEventBytes') as unknown });
  });

  it('ignores a look-alike of CheckedEvents and validates every event', () => {
    const bad = { ...event(1), data: { x: Number.NaN } } as Event;
    const lookAlike = { jsonFor: () => '{}' } as unknown as CheckedEvents;
    const decision = decideAppend('acme', [bad], 0, EMPTY, {}, lookAlike);
    expect(decision.results[0]).toMatchObject({ status: 'rejected', code: 'invalid_event' });
    expect(decision.accepted).toEqual([]);
  });
});
