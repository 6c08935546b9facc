import type Database from 'better-sqlite3';
import { CursorVersion, decideAppend, type AppendLookup, type Event } from '@eventsync/core';
import { answerOf, batchEvents, type AppendAnswer, type BatchFields } from './append-batch.js';

/**
 * Appends a prepared batch (see `prepareBatch`) for a tenant, in one `BEGIN IMMEDIATE` transaction on
 * the connection it was made for, and answers a result per event; throws what SQLite throws, having
 * committed nothing.
 */
export type AppendTransaction = (tenant: string, fields: BatchFields) => AppendAnswer;

/**
 * The append of `SqliteEventStore`, the same whether it runs on the caller's thread (`writer: 'inline'`)
 * or on the writer thread: one transaction that reads the tenant's latest cursor, prefetches what the
 * rules will ask ({@link prefetch}), runs `decideAppend` on the JSON validated by the caller, inserts
 * the accepted events and moves the cursor. A batch without valid events touches nothing. Every event
 * comes with its validated JSON (see `prepareBatch`), so the rules need no event limits here.
 */
export function createAppendTransaction(db: Database.Database): AppendTransaction {
  const statements = prepareWriteStatements(db);
  const transaction = db.transaction((tenant: string, fields: BatchFields): AppendAnswer => {
    const { events, json } = batchEvents(fields);
    const latest = statements.latest.get(tenant)?.latest ?? 0;
    const lookup = latest === 0 ? EMPTY_LOG : prefetch(statements, tenant, events, latest);
    const { results, accepted } = decideAppend(tenant, events, latest, lookup, {}, undefined, json);
    if (accepted.length === 0) return answerOf(results);
    const { insert } = statements;
    for (const { event, version, json } of accepted) {
      insert.run(tenant, version.value, event.id, event.aggregateId, event.type, event.metadata.clientId, json);
    }
    statements.setLatest.run(tenant, accepted.at(-1)!.version.value);
    return answerOf(results);
  });
  return (tenant, fields) => (fields.length === 0 ? [] : transaction.immediate(tenant, fields));
}

interface EventRow {
  readonly seq: number;
  readonly json: string;
}

type WriteStatements = ReturnType<typeof prepareWriteStatements>;

function prepareWriteStatements(db: Database.Database) {
  return {
    latest: db.prepare<[string], { latest: number }>('SELECT latest FROM tenants WHERE tenant = ?'),
    setLatest: db.prepare<[string, number]>(
      'INSERT INTO tenants (tenant, latest) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest',
    ),
    // The batch's ids drive the loop; each is one seek in the (tenant, id) index.
    byIds: db.prepare<[string, string], EventRow & { id: string }>(
      `SELECT e.id, e.seq, e.json FROM json_each(?) AS j CROSS JOIN events AS e INDEXED BY events_tenant_id
        WHERE e.tenant = ? AND e.id = j.value`,
    ),
    // Per aggregate written to by another client than the given one after a cursor: its latest such write.
    // A range of the primary key, whatever the statistics say: `+aggregate_id` keeps the planner from
    // walking the tenant's whole (tenant, aggregate_id) index to save the GROUP BY's sort, which it
    // chose once ANALYZE had run.
    foreignSince: db.prepare<[string, number, string], { aggregate_id: string; foreign: number }>(
      `SELECT aggregate_id, MAX(seq) AS "foreign" FROM events
        WHERE tenant = ? AND seq > ? AND client_id <> ? GROUP BY +aggregate_id`,
    ),
    aggregateLatest: db.prepare<[string, string], { latest: number | null }>(
      'SELECT MAX(seq) AS latest FROM events INDEXED BY events_tenant_aggregate WHERE tenant = ? AND aggregate_id = ?',
    ),
    // Per [aggregate, writer, base] of the JSON array `writers` (numbered from 0) that another client
    // wrote to after the base: the latest such write, and the aggregate's latest write. Writers with
    // no such write (the usual case) make no row.
    foreignWrites: db.prepare<[{ tenant: string; writers: string }], { i: number; foreign: number; latest: number }>(
      `WITH w AS MATERIALIZED (
         SELECT p.key AS i, p.value ->> 0 AS aggregate_id,
                (SELECT MAX(e.seq) FROM events AS e INDEXED BY events_tenant_aggregate
                  WHERE e.tenant = @tenant AND e.aggregate_id = p.value ->> 0 AND e.seq > p.value ->> 2
                    AND e.client_id <> p.value ->> 1) AS "foreign"
           FROM json_each(@writers) AS p)
       SELECT i, "foreign",
              (SELECT MAX(seq) FROM events INDEXED BY events_tenant_aggregate
                WHERE tenant = @tenant AND aggregate_id = w.aggregate_id) AS latest
         FROM w WHERE "foreign" IS NOT NULL`,
    ),
    foreignAfter: db.prepare<[string, string, string, number], { latest: number | null; foreign: number | null }>(
      `SELECT MAX(seq) AS latest, MAX(client_id <> ?) AS "foreign"
         FROM events INDEXED BY events_tenant_aggregate WHERE tenant = ? AND aggregate_id = ? AND seq > ?`,
    ),
    insert: db.prepare<[string, number, string, string, string, string, string]>(
      'INSERT INTO events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
  };
}

/**
 * Reads, inside the append's transaction, what `decideAppend` will ask about, in a few queries
 * whatever the batch's size: the batch's ids already stored, and for each writer (client) of the
 * batch, the aggregates it writes to that another client wrote to after the writer's base, with
 * their latest write. Nothing is written before `decideAppend` returns, so the answers hold for the
 * whole batch. The events are valid (the caller validated them).
 *
 * A writer's base is its lowest `baseVersion` in the batch: another client's latest write to an
 * aggregate after that base is after an event's own (higher) base exactly when some other client
 * wrote there after it. When the log since that base is short next to the batch (a client pushing
 * what it just made), one scan of that stretch of the log answers for all of the writer's
 * aggregates; otherwise each aggregate is looked up in its index.
 */
function prefetch(statements: WriteStatements, tenant: string, events: readonly Event[], latest: number): AppendLookup {
  const ids = new Set<string>();
  const writers = new Map<string, Writer>();
  for (const { id, aggregateId, metadata } of events) {
    ids.add(id);
    const { clientId } = metadata;
    const base = Number(metadata.baseVersion);
    if (!Number.isFinite(base)) continue;
    // Clamped into the stored range: no stored event is after a base past the latest cursor.
    const clamped = Math.max(0, Math.min(Math.floor(base), latest));
    let writer = writers.get(clientId);
    if (!writer) writers.set(clientId, (writer = { base: clamped, aggregates: new Map() }));
    else if (clamped < writer.base) writer.base = clamped;
    const known = writer.aggregates.get(aggregateId);
    if (known === undefined || clamped < known) writer.aggregates.set(aggregateId, clamped);
  }
  const stored = new Map<string, EventRow>();
  if (ids.size > 0) {
    for (const row of statements.byIds.all(JSON.stringify([...ids]), tenant)) stored.set(row.id, row);
  }
  // Per writer, then aggregate: the latest write of another client after the base the answer holds
  // from, and the aggregate's latest write. An aggregate without an entry has no such write.
  const answers = new Map<string, { readonly from: number; readonly foreign: Map<string, ForeignWrite> }>();
  const lookups: [aggregateId: string, clientId: string, base: number][] = [];
  for (const [clientId, writer] of writers) {
    const foreign = new Map<string, ForeignWrite>();
    if (writers.size <= MAX_SCANNED_WRITERS && latest - writer.base <= SCAN_PER_AGGREGATE * writer.aggregates.size) {
      for (const row of statements.foreignSince.all(tenant, writer.base, clientId)) {
        if (!writer.aggregates.has(row.aggregate_id)) continue;
        const last = statements.aggregateLatest.get(tenant, row.aggregate_id);
        foreign.set(row.aggregate_id, { foreign: row.foreign, latest: last?.latest ?? row.foreign });
      }
      answers.set(clientId, { from: writer.base, foreign });
    } else {
      for (const [aggregateId, base] of writer.aggregates) lookups.push([aggregateId, clientId, base]);
      answers.set(clientId, { from: -1, foreign });
    }
  }
  if (lookups.length > 0) {
    for (const row of statements.foreignWrites.all({ tenant, writers: JSON.stringify(lookups) })) {
      const [aggregateId, clientId] = lookups[row.i]!;
      answers.get(clientId)!.foreign.set(aggregateId, row);
    }
  }
  return {
    existing: (id) => {
      const row = stored.get(id);
      if (row === undefined) return undefined;
      // Parsed only when the pushed JSON is another text (a re-push is usually the same text).
      return {
        json: row.json,
        version: CursorVersion.of(row.seq),
        get event() {
          return JSON.parse(row.json) as Event;
        },
      };
    },
    foreignAfter: (aggregateId, baseVersion, clientId) => {
      const answer = answers.get(clientId);
      const from = answer?.from === -1 ? writers.get(clientId)?.aggregates.get(aggregateId) : answer?.from;
      if (answer === undefined || from === undefined || baseVersion < from) {
        // Not foreseen by the prefetch: ask.
        const row = statements.foreignAfter.get(clientId, tenant, aggregateId, baseVersion);
        return row?.foreign ? (row.latest ?? undefined) : undefined;
      }
      const write = answer.foreign.get(aggregateId);
      return write !== undefined && write.foreign > baseVersion ? write.latest : undefined;
    },
  };
}

/** One writer (client) of a batch: its lowest base, and per aggregate it writes to, its lowest base there. */
interface Writer {
  base: number;
  readonly aggregates: Map<string, number>;
}

/** Another client's latest write to an aggregate after a base, and the aggregate's latest write. */
interface ForeignWrite {
  readonly foreign: number;
  readonly latest: number;
}

/**
 * A scan of the log since a writer's base reads about 20 times as many events per millisecond as
 * lookups of an aggregate each: scan when the stretch holds at most this many events per aggregate.
 */
const SCAN_PER_AGGREGATE = 8;

/** Past this many writers (clients) in one batch, aggregates are looked up one by one. */
const MAX_SCANNED_WRITERS = 4;

/** The lookup of a tenant with no events yet: nothing is stored, nobody wrote anything. */
const EMPTY_LOG: AppendLookup = { existing: () => undefined, foreignAfter: () => undefined };
