import { describe, expect, it } from 'vitest';
import type { Event, JsonValue } from '../event/event.js';
import { SyncError } from '../errors/sync-error.js';
import { CursorVersion } from '../version/cursor-version.js';
import { HlcTimestamp } from '../version/hlc-timestamp.js';
import { checkTenant, decideAppend, type AppendLookup } from './decide-append.js';

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
