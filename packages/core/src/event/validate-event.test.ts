import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EVENT_LIMITS, isPlainObject, ULID_PATTERN, utf8Length, validateEvent } from './validate-event.js';
import { catchSyncError, propertyOptions as seededProperties } from '@eventsync/testkit';

const propertyOptions = seededProperties();

const ID = '01JDQ7Z8X9ABCDEFGHJKMNPQRS';

/** A fresh well-formed event, as it comes off the wire. */
function validEvent(): Record<string, unknown> & { data: Record<string, unknown>; metadata: Record<string, unknown> } {
  return {
    id: ID,
    type: 'todo.added',
    aggregateId: 'todo-1',
    data: { title: 'Milk', done: false, tags: ['shopping'], count: 2, note: null },
    metadata: { timestamp: '2026-11-24T18:40:15.123Z-00000000-phone-1', clientId: 'phone-1' },
  };
}

/** `levels` nested arrays: `[[…]]`. */
function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

describe('validateEvent', () => {
  it('accepts a well-formed event', () => {
    expect(() => validateEvent(validEvent())).not.toThrow();
  });

  it('accepts every optional metadata field and the application’s own keys', () => {
    const event = validEvent();
    Object.assign(event.metadata, {
      baseVersion: '0',
      schemaVersion: 3,
      tenant: 'acme',
      app: { device: ['x', 1, true, null] },
    });
    expect(() => validateEvent(event)).not.toThrow();
    event.metadata.baseVersion = '42';
    expect(() => validateEvent(event)).not.toThrow();
  });

  it.each([
    ['null', null],
    ['a string', 'x'],
    ['a number', 0],
    ['a boolean', false],
    ['an array', []],
    ['a nested array', [[1]]],
    ['an object', {}],
  ])('accepts %s as data', (_name, data) => {
    expect(() => validateEvent({ ...validEvent(), data })).not.toThrow();
  });

  it('accepts objects without a prototype, as JSON parsers may make them', () => {
    const data = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    const metadata = Object.assign(Object.create(null) as Record<string, unknown>, validEvent().metadata);
    expect(() => validateEvent({ ...validEvent(), data, metadata })).not.toThrow();
  });

  it('accepts the same object twice side by side, which is no cycle', () => {
    const shared = { a: 1 };
    expect(() =>
      validateEvent({ ...validEvent(), data: { left: shared, right: shared, list: [shared, shared] } }),
    ).not.toThrow();
  });

  it('accepts a __proto__ key from JSON as plain data and pollutes nothing', () => {
    const event = JSON.parse(
      `{"id":"${ID}","type":"t","aggregateId":"a","data":{"__proto__":{"polluted":true}},"metadata":{"timestamp":"2026-11-24T18:40:15.123Z-00000000-n","clientId":"n","__proto__":{"polluted":true}}}`,
    ) as unknown;
    expect(() => validateEvent(event)).not.toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('does not change the event it checks', () => {
    const event = validEvent();
    const before = JSON.stringify(event);
    validateEvent(event);
    expect(JSON.stringify(event)).toBe(before);
  });

  const sparse: unknown[] = [];
  sparse[0] = 1;
  sparse[2] = 3;
  const cycle: Record<string, unknown> = { a: {} };
  (cycle.a as Record<string, unknown>).back = cycle;
  const arrayCycle: unknown[] = [1];
  arrayCycle.push({ inner: arrayCycle });
  class Point {
    x = 1;
  }

  it.each<[string, (event: ReturnType<typeof validEvent>) => unknown, string]>([
    ['not an object: null', () => null, 'event'],
    ['not an object: a string', () => 'event', 'event'],
    ['not an object: an array', (e) => [e], 'event'],
    ['not an object: a Map', () => new Map(), 'event'],
    ['an unknown top-level field', (e) => ({ ...e, version: 3 }), 'version'],
    ['a missing id', ({ id: _id, ...e }) => e, 'id'],
    ['an empty id', (e) => ({ ...e, id: '' }), 'id'],
    ['a UUID for id', (e) => ({ ...e, id: '0b5f0a5e-1d3c-4c7b-8f33-52cf3c0a3b1a' }), 'id'],
    ['a lower-case ULID', (e) => ({ ...e, id: ID.toLowerCase() }), 'id'],
    ['a ULID of 25 characters', (e) => ({ ...e, id: ID.slice(1) }), 'id'],
    ['a ULID with a U', (e) => ({ ...e, id: `${ID.slice(0, 25)}U` }), 'id'],
    ['a ULID past the largest time', (e) => ({ ...e, id: `8${ID.slice(1)}` }), 'id'],
    ['a numeric id', (e) => ({ ...e, id: 42 }), 'id'],
    ['an empty type', (e) => ({ ...e, type: '' }), 'type'],
    ['a missing type', ({ type: _type, ...e }) => e, 'type'],
    ['a numeric type', (e) => ({ ...e, type: 1 }), 'type'],
    ['an empty aggregateId', (e) => ({ ...e, aggregateId: '' }), 'aggregateId'],
    ['a null aggregateId', (e) => ({ ...e, aggregateId: null }), 'aggregateId'],
    ['missing data', ({ data: _data, ...e }) => e, 'data'],
    ['undefined data', (e) => ({ ...e, data: undefined }), 'data'],
    ['an undefined value in data', (e) => ({ ...e, data: { a: 1, gone: undefined } }), 'data.gone'],
    ['undefined in an array', (e) => ({ ...e, data: { list: [1, undefined] } }), 'data.list[1]'],
    ['a function in data', (e) => ({ ...e, data: { f: () => 1 } }), 'data.f'],
    ['a symbol in data', (e) => ({ ...e, data: { s: Symbol('s') } }), 'data.s'],
    ['NaN in data', (e) => ({ ...e, data: { n: Number.NaN } }), 'data.n'],
    ['Infinity in data', (e) => ({ ...e, data: { deep: { n: Number.POSITIVE_INFINITY } } }), 'data.deep.n'],
    ['-Infinity in data', (e) => ({ ...e, data: [Number.NEGATIVE_INFINITY] }), 'data[0]'],
    ['a Date in data', (e) => ({ ...e, data: { when: new Date(0) } }), 'data.when'],
    ['a Date as data', (e) => ({ ...e, data: new Date(0) }), 'data'],
    ['a Map in data', (e) => ({ ...e, data: { m: new Map([['a', 1]]) } }), 'data.m'],
    ['a Set in data', (e) => ({ ...e, data: { s: new Set() } }), 'data.s'],
    ['a class instance in data', (e) => ({ ...e, data: { p: new Point() } }), 'data.p'],
    ['a bigint in data', (e) => ({ ...e, data: { big: 1n } }), 'data.big'],
    ['a sparse array in data', (e) => ({ ...e, data: { list: sparse } }), 'data.list[1]'],
    ['a cycle in data', (e) => ({ ...e, data: cycle }), 'data.a.back'],
    ['a cycle through an array in data', (e) => ({ ...e, data: arrayCycle }), 'data[1].inner'],
    ['missing metadata', ({ metadata: _metadata, ...e }) => e, 'metadata'],
    ['metadata that is an array', (e) => ({ ...e, metadata: [] }), 'metadata'],
    ['metadata without timestamp', (e) => ({ ...e, metadata: { clientId: 'phone-1' } }), 'metadata.timestamp'],
    ['a numeric timestamp', (e) => ({ ...e, metadata: { ...e.metadata, timestamp: 1 } }), 'metadata.timestamp'],
    [
      'an ISO date for timestamp',
      (e) => ({ ...e, metadata: { ...e.metadata, timestamp: '2026-11-24T18:40:15.123Z' } }),
      'metadata.timestamp',
    ],
    [
      'an impossible timestamp',
      (e) => ({ ...e, metadata: { ...e.metadata, timestamp: '2026-02-30T00:00:00.000Z-00000000-n' } }),
      'metadata.timestamp',
    ],
    [
      'metadata without clientId',
      (e) => ({ ...e, metadata: { timestamp: e.metadata.timestamp } }),
      'metadata.clientId',
    ],
    ['an empty clientId', (e) => ({ ...e, metadata: { ...e.metadata, clientId: '' } }), 'metadata.clientId'],
    ['a clientId with a space', (e) => ({ ...e, metadata: { ...e.metadata, clientId: 'a b' } }), 'metadata.clientId'],
    ['a numeric baseVersion', (e) => ({ ...e, metadata: { ...e.metadata, baseVersion: 3 } }), 'metadata.baseVersion'],
    [
      'a baseVersion with a leading zero',
      (e) => ({ ...e, metadata: { ...e.metadata, baseVersion: '03' } }),
      'metadata.baseVersion',
    ],
    [
      'a negative baseVersion',
      (e) => ({ ...e, metadata: { ...e.metadata, baseVersion: '-1' } }),
      'metadata.baseVersion',
    ],
    ['a null baseVersion', (e) => ({ ...e, metadata: { ...e.metadata, baseVersion: null } }), 'metadata.baseVersion'],
    ['schemaVersion 0', (e) => ({ ...e, metadata: { ...e.metadata, schemaVersion: 0 } }), 'metadata.schemaVersion'],
    [
      'a fractional schemaVersion',
      (e) => ({ ...e, metadata: { ...e.metadata, schemaVersion: 1.5 } }),
      'metadata.schemaVersion',
    ],
    [
      'a string schemaVersion',
      (e) => ({ ...e, metadata: { ...e.metadata, schemaVersion: '1' } }),
      'metadata.schemaVersion',
    ],
    ['an empty tenant', (e) => ({ ...e, metadata: { ...e.metadata, tenant: '' } }), 'metadata.tenant'],
    [
      'a tenant past 256 characters',
      (e) => ({ ...e, metadata: { ...e.metadata, tenant: 't'.repeat(257) } }),
      'metadata.tenant',
    ],
    ['a numeric tenant', (e) => ({ ...e, metadata: { ...e.metadata, tenant: 7 } }), 'metadata.tenant'],
    [
      'NaN in the application’s metadata',
      (e) => ({ ...e, metadata: { ...e.metadata, score: Number.NaN } }),
      'metadata.score',
    ],
    [
      'a Date in the application’s metadata',
      (e) => ({ ...e, metadata: { ...e.metadata, at: new Date(0) } }),
      'metadata.at',
    ],
  ])('refuses %s as invalid_input', (_name, make, field) => {
    const error = catchSyncError(() => validateEvent(make(validEvent())), 'invalid_input');
    expect(error.details.field).toBe(field);
  });

  it('names the event id in errors about its metadata', () => {
    const event = validEvent();
    event.metadata.clientId = '';
    expect(catchSyncError(() => validateEvent(event)).details.eventId).toBe(ID);
  });

  it('refuses a cycle whatever maxDepth is', () => {
    const error = catchSyncError(
      () => validateEvent({ ...validEvent(), data: cycle }, { maxDepth: Number.POSITIVE_INFINITY }),
      'invalid_input',
    );
    expect(error.details.field).toBe('data.a.back');
  });

  describe('limits', () => {
    it('accepts data nested as deep as maxDepth', () => {
      expect(() => validateEvent({ ...validEvent(), data: nested(DEFAULT_EVENT_LIMITS.maxDepth) })).not.toThrow();
      expect(() => validateEvent({ ...validEvent(), data: nested(3) }, { maxDepth: 3 })).not.toThrow();
    });

    it('refuses data nested deeper than maxDepth as limit_exceeded', () => {
      const error = catchSyncError(
        () => validateEvent({ ...validEvent(), data: nested(DEFAULT_EVENT_LIMITS.maxDepth + 1) }),
        'limit_exceeded',
      );
      expect(error.details).toMatchObject({ limit: 'maxDepth', max: 32 });
      expect(error.details.field).toMatch(/^data(\[0\])+$/);
      const small = catchSyncError(
        () => validateEvent({ ...validEvent(), data: { a: { b: { c: {} } } } }, { maxDepth: 3 }),
        'limit_exceeded',
      );
      expect(small.details).toMatchObject({ field: 'data.a.b.c', limit: 'maxDepth', max: 3 });
    });

    it('refuses metadata nested deeper than maxDepth', () => {
      const event = validEvent();
      event.metadata.app = { a: { b: {} } };
      const error = catchSyncError(() => validateEvent(event, { maxDepth: 3 }), 'limit_exceeded');
      expect(error.details).toMatchObject({ field: 'metadata.app.a.b', limit: 'maxDepth' });
    });

    it('refuses a type or aggregateId past its length as limit_exceeded', () => {
      const type = catchSyncError(() => validateEvent({ ...validEvent(), type: 't'.repeat(257) }), 'limit_exceeded');
      expect(type.details).toMatchObject({ field: 'type', limit: 'maxTypeLength', max: 256, actual: 257 });
      expect(() => validateEvent({ ...validEvent(), type: 't'.repeat(256) })).not.toThrow();
      const aggregate = catchSyncError(() =>
        validateEvent({ ...validEvent(), aggregateId: 'a'.repeat(11) }, { maxAggregateIdLength: 10 }),
      );
      expect(aggregate.details).toMatchObject({
        field: 'aggregateId',
        limit: 'maxAggregateIdLength',
        max: 10,
        actual: 11,
      });
    });

    it('accepts an event of exactly maxEventBytes and refuses one byte more', () => {
      const event = validEvent();
      const bytes = new TextEncoder().encode(JSON.stringify(event)).length;
      expect(() => validateEvent(event, { maxEventBytes: bytes })).not.toThrow();
      const error = catchSyncError(() => validateEvent(event, { maxEventBytes: bytes - 1 }), 'limit_exceeded');
      expect(error.details).toEqual({ limit: 'maxEventBytes', max: bytes - 1, actual: bytes, eventId: ID });
    });

    it('counts multi-byte characters in bytes, not in characters', () => {
      const event = { ...validEvent(), data: { text: '€😀é'.repeat(20) } };
      const json = JSON.stringify(event);
      const bytes = new TextEncoder().encode(json).length;
      expect(bytes).toBeGreaterThan(json.length);
      const error = catchSyncError(() => validateEvent(event, { maxEventBytes: json.length }), 'limit_exceeded');
      expect(error.details.actual).toBe(bytes);
      expect(() => validateEvent(event, { maxEventBytes: bytes })).not.toThrow();
    });

    it('refuses an event past 64 KiB by default', () => {
      const event = { ...validEvent(), data: { text: 'x'.repeat(64 * 1024) } };
      const error = catchSyncError(() => validateEvent(event), 'limit_exceeded');
      expect(error.details.limit).toBe('maxEventBytes');
      expect(error.details.max).toBe(65536);
    });
  });
});

describe('utf8Length', () => {
  const encoder = new TextEncoder();

  it.each([
    ['the empty string', ''],
    ['ASCII', 'hello'],
    ['two-byte characters', 'é ß'],
    ['three-byte characters', '€ 中'],
    ['a surrogate pair', '😀'],
    ['a lone high surrogate', '\ud800'],
    ['a lone high surrogate at the end', 'a\udbff'],
    ['a lone low surrogate', '\udc00'],
    ['surrogates in the wrong order', '\udc00\ud800'],
  ])('counts %s like TextEncoder', (_name, text) => {
    expect(utf8Length(text)).toBe(encoder.encode(text).length);
  });

  it('counts any string of code points like TextEncoder', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 50 }),
        (text) => utf8Length(text) === encoder.encode(text).length,
      ),
      propertyOptions,
    );
  });

  it('counts any string of UTF-16 code units, lone surrogates included, like TextEncoder', () => {
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code));
    fc.assert(
      fc.property(
        fc.string({ unit: codeUnit, maxLength: 50 }),
        (text) => utf8Length(text) === encoder.encode(text).length,
      ),
      propertyOptions,
    );
  });
});

describe('isPlainObject and ULID_PATTERN', () => {
  it('takes object literals and prototype-less objects only', () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(null)).toBe(false);
    expect(isPlainObject(new Date())).toBe(false);
    expect(isPlainObject(Object.create({}))).toBe(false);
  });

  it('matches ULIDs only', () => {
    expect(ULID_PATTERN.test(ID)).toBe(true);
    expect(ULID_PATTERN.test('7ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(true);
    expect(ULID_PATTERN.test('8ZZZZZZZZZZZZZZZZZZZZZZZZZ')).toBe(false);
    expect(ULID_PATTERN.test(`${ID}\n`)).toBe(false);
  });
});
