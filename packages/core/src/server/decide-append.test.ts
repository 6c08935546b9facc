import { describe, expect, it } from 'vitest';
import type { Event, JsonValue } from '../event/event.js';
import { SyncError } from '../errors/sync-error.js';
import { CursorVersion } from '../version/cursor-version.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import { CheckedEvents } from './checked-events.js';
import { appendedJson, checkTenant, decideAppend, type AppendLookup } from './decide-append.js';

const T = Date.UTC(2026, 10, 24, 18, 40, 15, 123);

interface EventSpec {
  readonly n: number;
  readonly client?: string;
  readonly aggregate?: string;
  readonly baseVersion?: string;
  readonly tenant?: string;
  readonly data?: JsonValue;
}

/** A well-formed event whose id is made from `n`. */
function event({ n, client = 'alice', aggregate = 'todo-1', baseVersion, tenant, data = { n } }: EventSpec): Event {
  return {
    id: `01JD${String(n).padStart(22, '0')}`,
    type: 'todo.changed',
    aggregateId: aggregate,
    data,
    metadata: {
      timestamp: new HlcTimestamp(T + n, 0, client).toString(),
      clientId: client,
      ...(baseVersion === undefined ? {} : { baseVersion }),
      ...(tenant === undefined ? {} : { tenant }),
    },
  };
}

/** The lookup of a log holding `stored`, at versions 1, 2, 3…, answering as the AppendLookup contract says. */
function logOf(stored: readonly Event[]): { latest: number; lookup: AppendLookup } {
  const versioned = stored.map((item, i) => ({ event: item, version: CursorVersion.of(i + 1) }));
  return {
    latest: stored.length,
    lookup: {
      existing: (id) => versioned.find((item) => item.event.id === id),
      foreignAfter: (aggregateId, baseVersion, clientId) => {
        const after = versioned.filter(
          (item) => item.event.aggregateId === aggregateId && item.version.value > baseVersion,
        );
        if (!after.some((item) => item.event.metadata.clientId !== clientId)) return undefined;
        return Math.max(...after.map((item) => item.version.value));
      },
    },
  };
}

function decide(stored: readonly Event[], batch: readonly unknown[], tenant = 'acme') {
  const { latest, lookup } = logOf(stored);
  return decideAppend(tenant, batch as readonly Event[], latest, lookup);
}

/** The results in a form easy to compare: `accepted@3`, `duplicate@1`, `conflict@5`, `rejected:id_reused`. */
function summary(decision: ReturnType<typeof decide>): string[] {
  return decision.results.map((result) => {
    switch (result.status) {
      case 'accepted':
      case 'duplicate':
        return `${result.status}@${result.version.toString()}`;
      case 'conflict':
        return `conflict@${result.latest.toString()}`;
      case 'rejected':
        return `rejected:${result.code}`;
    }
  });
}

describe('decideAppend', () => {
  it('accepts events into an empty log at versions 1, 2, 3', () => {
    const batch = [event({ n: 1 }), event({ n: 2, aggregate: 'todo-2' }), event({ n: 3 })];
    const decision = decide([], batch);
    expect(summary(decision)).toEqual(['accepted@1', 'accepted@2', 'accepted@3']);
    expect(decision.results.map((result) => result.id)).toEqual(batch.map((item) => item.id));
    expect(decision.accepted.map(({ event: stored, version }) => [stored.id, version.value])).toEqual([
      [batch[0]!.id, 1],
      [batch[1]!.id, 2],
      [batch[2]!.id, 3],
    ]);
  });

  it('accepts events at consecutive versions after latest', () => {
    const stored = [event({ n: 1 }), event({ n: 2 })];
    const decision = decide(stored, [event({ n: 3 }), event({ n: 4 })]);
    expect(summary(decision)).toEqual(['accepted@3', 'accepted@4']);
    expect(decision.accepted.map(({ version }) => version.value)).toEqual([3, 4]);
  });

  it('accepts nothing from an empty batch', () => {
    expect(decide([event({ n: 1 })], [])).toEqual({ results: [], accepted: [] });
  });

  describe('duplicates', () => {
    it('answers duplicate with the stored version and stores nothing again', () => {
      const stored = [event({ n: 1 }), event({ n: 2 }), event({ n: 3 })];
      const decision = decide(stored, [event({ n: 2 }), event({ n: 4 })]);
      expect(summary(decision)).toEqual(['duplicate@2', 'accepted@4']);
      expect(decision.accepted.map(({ event: stored }) => stored.id)).toEqual([event({ n: 4 }).id]);
    });

    it('answers duplicate when only baseVersion or tenant differ', () => {
      const stored = [event({ n: 1, tenant: 'acme', baseVersion: '0' })];
      const decision = decide(stored, [event({ n: 1, baseVersion: '1' }), event({ n: 1 })]);
      expect(summary(decision)).toEqual(['duplicate@1', 'duplicate@1']);
      expect(decision.accepted).toEqual([]);
    });

    it('answers duplicate for an event pushed twice in one batch', () => {
      const decision = decide([], [event({ n: 1 }), event({ n: 2 }), event({ n: 1 })]);
      expect(summary(decision)).toEqual(['accepted@1', 'accepted@2', 'duplicate@1']);
      expect(decision.accepted).toHaveLength(2);
    });

    it('rejects an id stored with other content as id_reused', () => {
      const decision = decide([event({ n: 1 })], [event({ n: 1, data: { other: true } })]);
      expect(summary(decision)).toEqual(['rejected:id_reused']);
      expect(decision.accepted).toEqual([]);
    });

    it('answers duplicate from the stored JSON text when it is the pushed one, reading no stored event', () => {
      const stored = event({ n: 1 });
      const pushed = event({ n: 1 });
      const json = appendedJson(pushed, {}) as string;
      const lookup = (storedJson: string): AppendLookup => ({
        existing: () => ({
          json: storedJson,
          version: CursorVersion.of(1),
          get event(): Event {
            reads++;
            return JSON.parse(storedJson) as Event;
          },
        }),
        foreignAfter: () => undefined,
      });
      let reads = 0;
      const same = decideAppend('acme', [pushed], 1, lookup(json));
      expect(summary(same)).toEqual(['duplicate@1']);
      expect(reads).toBe(0);
      // Another text of the same event (keys in another order): compared by content.
      const { id, type, aggregateId, data, metadata } = stored;
      const reordered = JSON.stringify({ data, metadata, aggregateId, type, id });
      expect(reordered).not.toBe(json);
      expect(summary(decideAppend('acme', [pushed], 1, lookup(reordered)))).toEqual(['duplicate@1']);
      expect(reads).toBe(1);
    });

    it('rejects an id reused with other content within one batch', () => {
      const decision = decide([], [event({ n: 1 }), event({ n: 1, client: 'bob' })]);
      expect(summary(decision)).toEqual(['accepted@1', 'rejected:id_reused']);
      expect(decision.accepted).toHaveLength(1);
    });
  });

  describe('conflicts', () => {
    it('answers conflict when another client’s event landed after baseVersion', () => {
      const stored = [event({ n: 1, client: 'bob' }), event({ n: 2, client: 'bob' })];
      const decision = decide(stored, [event({ n: 3, baseVersion: '1' })]);
      expect(summary(decision)).toEqual(['conflict@2']);
      expect(decision.results[0]).toMatchObject({
        status: 'conflict',
        reason: expect.stringContaining('todo-1') as unknown,
      });
      expect(decision.accepted).toEqual([]);
    });

    it('gives the aggregate’s latest version in a conflict, whoever wrote it', () => {
      const stored = [
        event({ n: 1, client: 'bob' }),
        event({ n: 2 }),
        event({ n: 3, aggregate: 'todo-2', client: 'bob' }),
      ];
      expect(summary(decide(stored, [event({ n: 4, baseVersion: '0' })]))).toEqual(['conflict@2']);
    });

    it('accepts when baseVersion has seen the other client’s event', () => {
      const stored = [event({ n: 1, client: 'bob' })];
      expect(summary(decide(stored, [event({ n: 2, baseVersion: '1' })]))).toEqual(['accepted@2']);
    });

    it('does not count the client’s own events after baseVersion as a conflict', () => {
      const stored = [event({ n: 1, client: 'bob' }), event({ n: 2 }), event({ n: 3 })];
      expect(summary(decide(stored, [event({ n: 4, baseVersion: '1' })]))).toEqual(['accepted@4']);
    });

    it('does not count other aggregates’ events as a conflict', () => {
      const stored = [event({ n: 1, client: 'bob', aggregate: 'todo-2' })];
      expect(summary(decide(stored, [event({ n: 2, baseVersion: '0' })]))).toEqual(['accepted@2']);
    });

    it('does not check for conflicts without baseVersion', () => {
      const stored = [event({ n: 1, client: 'bob' })];
      expect(summary(decide(stored, [event({ n: 2 })]))).toEqual(['accepted@2']);
    });

    it('answers conflict for another client’s event accepted earlier in the same batch', () => {
      const decision = decide([], [event({ n: 1, client: 'bob' }), event({ n: 2, baseVersion: '0' })]);
      expect(summary(decision)).toEqual(['accepted@1', 'conflict@1']);
    });

    it('accepts the client’s own events earlier in the same batch', () => {
      const decision = decide([], [event({ n: 1, baseVersion: '0' }), event({ n: 2, baseVersion: '0' })]);
      expect(summary(decision)).toEqual(['accepted@1', 'accepted@2']);
    });

    it('blocks later events of a conflicted aggregate in the batch, and only those', () => {
      const stored = [event({ n: 1, client: 'bob' })];
      const decision = decide(stored, [
        event({ n: 2, baseVersion: '0' }),
        event({ n: 3 }),
        event({ n: 4, aggregate: 'todo-2' }),
        event({ n: 5, baseVersion: '1' }),
      ]);
      expect(summary(decision)).toEqual(['conflict@1', 'conflict@1', 'accepted@2', 'conflict@1']);
      expect(decision.results[1]).toMatchObject({ reason: expect.stringContaining('earlier event') as unknown });
      expect(decision.accepted.map(({ event: stored }) => stored.id)).toEqual([event({ n: 4 }).id]);
    });
  });

  describe('rejections', () => {
    it.each<[string, unknown, string]>([
      ['a non-object', 'event', ''],
      ['null', null, ''],
      ['an event without id', (({ id: _id, ...rest }) => rest)(event({ n: 1 })), ''],
      ['an empty type', { ...event({ n: 1 }), type: '' }, event({ n: 1 }).id],
      ['NaN in data', { ...event({ n: 1 }), data: { x: Number.NaN } }, event({ n: 1 }).id],
      ['a missing timestamp', { ...event({ n: 1 }), metadata: { clientId: 'alice' } }, event({ n: 1 }).id],
      ['an unknown field', { ...event({ n: 1 }), version: 3 }, event({ n: 1 }).id],
    ])('rejects %s as invalid_event and goes on', (_name, bad, id) => {
      const decision = decide([], [bad, event({ n: 2 })]);
      expect(summary(decision)).toEqual(['rejected:invalid_event', 'accepted@1']);
      expect(decision.results[0]).toMatchObject({
        id,
        status: 'rejected',
        code: 'invalid_event',
        reason: expect.any(String) as unknown,
      });
    });

    it('rejects an event past the limits it is given', () => {
      const { latest, lookup } = logOf([]);
      const decision = decideAppend('acme', [event({ n: 1, data: 'x'.repeat(500) }), event({ n: 2 })], latest, lookup, {
        maxEventBytes: 400,
      });
      expect(summary(decision)).toEqual(['rejected:invalid_event', 'accepted@1']);
      expect(decision.results[0]).toMatchObject({ reason: expect.stringContaining('maxEventBytes') as unknown });
    });

    it('rejects a baseVersion past the log’s latest version', () => {
      const stored = [event({ n: 1 }), event({ n: 2 })];
      const decision = decide(stored, [event({ n: 3, baseVersion: '3' }), event({ n: 4, baseVersion: '2' })]);
      expect(summary(decision)).toEqual(['rejected:invalid_event', 'accepted@3']);
      expect(decision.results[0]).toMatchObject({ reason: expect.stringContaining('baseVersion 3') as unknown });
    });

    it('counts events accepted earlier in the batch towards the latest version', () => {
      const decision = decide(
        [],
        [event({ n: 1 }), event({ n: 2, baseVersion: '1' }), event({ n: 3, baseVersion: '3' })],
      );
      expect(summary(decision)).toEqual(['accepted@1', 'accepted@2', 'rejected:invalid_event']);
    });
  });

  describe('tenants', () => {
    it('stores events as they were pushed, with or without their own tenant', () => {
      const bare = event({ n: 1 });
      const named = event({ n: 2, tenant: 'acme' });
      const decision = decide([], [bare, named]);
      expect(decision.accepted.map(({ event: stored }) => stored)).toEqual([bare, named]);
    });

    it('refuses an event that names another tenant', () => {
      const pushed = event({ n: 1, tenant: 'other' });
      const decision = decide([], [pushed, event({ n: 2 })]);
      expect(decision.results[0]).toMatchObject({ id: pushed.id, status: 'rejected', code: 'forbidden' });
      expect(decision.accepted.map(({ event: stored }) => stored.id)).not.toContain(pushed.id);
      expect(decision.accepted).toHaveLength(1);
    });

    it('does not change the pushed events', () => {
      const pushed = event({ n: 1 });
      const before = JSON.stringify(pushed);
      decide([], [pushed]);
      expect(JSON.stringify(pushed)).toBe(before);
    });
  });
});

/** Only what decideAppend reads of an event whose JSON it is given: the rest is in the JSON. */
function fieldsOf(pushed: Event): Event {
  const { clientId, baseVersion, tenant } = pushed.metadata;
  return { id: pushed.id, aggregateId: pushed.aggregateId, metadata: { clientId, baseVersion, tenant } } as Event;
}

describe('decideAppend with validatedJson', () => {
  it('takes the JSON it is given without validating the event again, and stores that JSON', () => {
    const pushed = [event({ n: 1 }), event({ n: 2, aggregate: 'todo-2', baseVersion: '0' })];
    const json = pushed.map((item) => JSON.stringify(item));
    const { latest, lookup } = logOf([]);
    const light = pushed.map(fieldsOf);
    const decision = decideAppend('acme', light, latest, lookup, { maxDepth: 1 }, undefined, json);
    expect(summary(decision)).toEqual(['accepted@1', 'accepted@2']);
    expect(decision.accepted.map((item) => item.json)).toEqual(json);
    expect(decision.accepted.map((item) => item.event)).toEqual(light);
  });

  it('judges a pushed id already stored on the JSON it is given', () => {
    const stored = event({ n: 1, data: { title: 'a' } });
    const { latest, lookup } = logOf([stored]);
    const again = { ...stored, metadata: { ...stored.metadata, baseVersion: '1' } };
    const changed = event({ n: 1, data: { title: 'b' } });
    const decision = decideAppend('acme', [again, changed].map(fieldsOf), latest, lookup, {}, undefined, [
      JSON.stringify(again),
      JSON.stringify(changed),
    ]);
    expect(summary(decision)).toEqual(['duplicate@1', 'rejected:id_reused']);
  });

  it('handles an event without an entry as checked says, validating it when checked does not cover it', () => {
    const recorded = event({ n: 1 });
    const checked = new CheckedEvents();
    checked.check(recorded);
    (recorded.data as { n: unknown }).n = 'changed since its check';
    const bad = { ...event({ n: 2 }), type: '' };
    const given = event({ n: 3 });
    const decision = decideAppend('acme', [recorded, bad, given], 0, logOf([]).lookup, {}, checked, [
      undefined,
      undefined,
      JSON.stringify(given),
    ]);
    expect(summary(decision)).toEqual(['accepted@1', 'rejected:invalid_event', 'accepted@2']);
    expect(decision.accepted[0]!.json).toBe(JSON.stringify(event({ n: 1 })));
  });

  it('answers what it answers without it when given appendedJson of the valid events, merged with the invalid ones', () => {
    const stored = [event({ n: 1, client: 'bob' }), event({ n: 2, aggregate: 'todo-2' })];
    const batch: unknown[] = [
      event({ n: 3, baseVersion: '0' }), // conflict: bob wrote todo-1 after 0
      event({ n: 4, baseVersion: '2' }), // a later event of the conflicted aggregate
      { ...event({ n: 5 }), type: '' }, // invalid
      event({ n: 2, aggregate: 'todo-2' }), // duplicate of a stored one
      { ...event({ n: 1, client: 'bob' }), data: { other: true } }, // id reused
      event({ n: 6, aggregate: 'todo-3', tenant: 'other' }), // forbidden
      event({ n: 7, aggregate: 'todo-3', baseVersion: '2' }), // accepted
      event({ n: 8, aggregate: 'todo-3', baseVersion: '9' }), // baseVersion after the head
      event({ n: 7, aggregate: 'todo-3', baseVersion: '2' }), // duplicate within the batch
      null, // invalid
    ];
    const { latest, lookup } = logOf(stored);
    const whole = decideAppend('acme', batch as Event[], latest, lookup);

    const checks = batch.map((candidate) => appendedJson(candidate));
    const valid = batch.flatMap((candidate, i) =>
      typeof checks[i] === 'string' ? [fieldsOf(candidate as Event)] : [],
    );
    const json = checks.filter((check): check is string => typeof check === 'string');
    const split = decideAppend('acme', valid, latest, lookup, {}, undefined, json);
    const results = split.results.slice();
    for (const [i, check] of checks.entries()) if (typeof check !== 'string') results.splice(i, 0, check);

    expect(results).toEqual(whole.results);
    expect(split.accepted.map((item) => [item.event.id, item.version.value, item.json])).toEqual(
      whole.accepted.map((item) => [item.event.id, item.version.value, item.json]),
    );
    expect(summary(whole)).toEqual([
      'conflict@1',
      'conflict@1',
      'rejected:invalid_event',
      'duplicate@2',
      'rejected:id_reused',
      'rejected:forbidden',
      'accepted@3',
      'rejected:invalid_event',
      'duplicate@3',
      'rejected:invalid_event',
    ]);
  });
});

describe('appendedJson', () => {
  it('gives the JSON of a valid event, and for an invalid one the result decideAppend answers', () => {
    const valid = event({ n: 1 });
    expect(appendedJson(valid)).toBe(JSON.stringify(valid));
    const bad = { ...event({ n: 2 }), type: '' };
    expect(appendedJson(bad)).toEqual(decide([], [bad]).results[0]);
    expect(appendedJson(bad)).toMatchObject({ id: bad.id, status: 'rejected', code: 'invalid_event' });
    expect(appendedJson('not an event')).toMatchObject({ id: '', status: 'rejected', code: 'invalid_event' });
    expect(appendedJson(event({ n: 3, data: 'x'.repeat(500) }), { maxEventBytes: 400 })).toMatchObject({
      reason: expect.stringContaining('maxEventBytes') as unknown,
    });
  });

  it('takes the JSON a real CheckedEvents recorded, and nothing from a look-alike', () => {
    const pushed = event({ n: 1 });
    const checked = new CheckedEvents();
    const recorded = checked.check(pushed);
    (pushed.data as { n: unknown }).n = 'changed since its check';
    expect(appendedJson(pushed, {}, checked)).toBe(recorded);
    const lookAlike = { jsonFor: () => '{"forged":true}', size: 1 } as unknown as CheckedEvents;
    expect(appendedJson(pushed, {}, lookAlike)).toBe(JSON.stringify(pushed));
  });

  it('throws an error of validation that is not a SyncError', () => {
    const hostile = {
      ...event({ n: 1 }),
      get data(): never {
        throw new RangeError('a getter that throws');
      },
    };
    expect(() => appendedJson(hostile)).toThrow(RangeError);
  });
});

describe('checkTenant', () => {
  it('accepts a non-empty string of up to 256 characters', () => {
    expect(() => checkTenant('acme')).not.toThrow();
    expect(() => checkTenant('t'.repeat(256))).not.toThrow();
  });

  it.each([
    ['the empty string', ''],
    ['a string past 256 characters', 't'.repeat(257)],
    ['a number', 1],
    ['undefined', undefined],
  ])('refuses %s', (_name, tenant) => {
    let error: unknown;
    try {
      checkTenant(tenant);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SyncError);
    expect((error as SyncError).code).toBe('invalid_input');
    expect((error as SyncError).details.field).toBe('tenant');
  });
});
