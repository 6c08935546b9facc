// The server side of the server benchmarks, in a process of its own so that its memory can be measured
// apart from the client's: `node --expose-gc --import tsx bench-server.ts`. It prints
// `ready <sync url> <raw url>` once both listen, and exits when its standard input closes (the
// benchmark process is gone) or on SIGTERM.
//
// - The sync server: `serve(createSyncHandler({ store: await SqliteEventStore.open({ path }), tokens }))`,
//   exactly what `eventsync serve` runs, on a file the benchmark chooses (`POST /control/open`).
//   `EVENTSYNC_BENCH_SQLITE_WRITER=inline` (or `thread`, the default for a file) picks the store's
//   `writer`, to compare the two on the same run.
// - The raw server: a plain node:http server with the baselines (JSON pages written as they are, pages
//   read straight from SQLite, an SSE fan-out), the push floor (below) and the controls (open a file,
//   fill it, memory).

import { CursorVersion } from '@eventsync/core';
import { encodePullResponse } from '@eventsync/http';
import { SqliteEventStore } from '@eventsync/sqlite';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSyncHandler, serve, type SyncHandler } from '../src/index.js';
import {
  BENCH_TENANT,
  BENCH_TOKENS,
  Database,
  openRawDatabase,
  type RawDatabase,
  type SqliteDatabase,
} from './bench-support.js';

interface Current {
  readonly path: string;
  readonly store: SqliteEventStore;
  readonly handler: SyncHandler;
  raw?: RawDatabase;
}

let current: Current | undefined;
/** Pull response bodies by `since`, for the raw page server. */
let pages = new Map<string, string>();
const rawStreams = new Set<ServerResponse>();
let rawSeq = 0;
let peakRss = process.memoryUsage.rss();
/** Samples the RSS for its peak, from the first `POST /control/peak` on (only memory benchmarks ask). */
let sampler: ReturnType<typeof setInterval> | undefined;
function samplePeak(): void {
  sampler ??= setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  }, 5).unref();
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function open(path: string): Promise<void> {
  await closeCurrent();
  // Opened before the sample starts: the writer thread's start is not part of a push.
  const store = await SqliteEventStore.open({ path, ...writerOption() });
  current = { path, store, handler: createSyncHandler({ store, tokens: BENCH_TOKENS }) };
}

/** The store's `writer` as `EVENTSYNC_BENCH_SQLITE_WRITER` names it; the store's default when unset. */
function writerOption(): { writer?: 'inline' | 'thread' } {
  const writer = process.env.EVENTSYNC_BENCH_SQLITE_WRITER;
  if (writer === undefined || writer === '') return {};
  if (writer !== 'inline' && writer !== 'thread') {
    throw new Error(`EVENTSYNC_BENCH_SQLITE_WRITER must be inline or thread, got ${writer}`);
  }
  return { writer };
}

async function closeCurrent(): Promise<void> {
  const closing = current;
  current = undefined;
  pages = new Map();
  if (!closing) return;
  closing.raw?.close();
  await closing.handler.close({ timeoutMs: 0 });
  await closing.store.close();
}

function need(): Current {
  if (!current) throw new Error('no database is open: POST /control/open first');
  return current;
}

/**
 * Writes `count` events after the log's head with raw inserts into the store's tables, in large
 * transactions: a million in seconds, where appending them through the store (validation and all)
 * would take the better part of a minute. The benchmarks measure reads of these events, not their
 * writing. Each is a valid event (readers check every one): a ULID made of a fixed time and a counter,
 * an HLC timestamp, a small todo.
 */
function fill(count: number): number {
  const { path } = need();
  const db = new Database(path);
  try {
    db.pragma('synchronous = OFF');
    const insert = db.prepare<[string, number, string, string, string, string, string]>(
      'INSERT INTO events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    const latest = db.prepare<[string], { latest: number }>('SELECT latest FROM tenants WHERE tenant = ?');
    const setLatest = db.prepare<[string, number]>(
      'INSERT INTO tenants (tenant, latest) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest',
    );
    const start = latest.get(BENCH_TENANT)?.latest ?? 0;
    const timestamp = `${new Date().toISOString()}-00000000-${FILLER}`;
    const write = db.transaction((from: number, to: number) => {
      for (let seq = from; seq <= to; seq++) {
        const id = ulidOf(seq);
        const aggregateId = `todo-${seq % 1_000}`;
        const json =
          `{"id":"${id}","type":"todo.added","aggregateId":"${aggregateId}","data":{"title":"Buy milk #${seq}",` +
          `"done":false,"tags":["home","errand"],"priority":${seq % 5}},"metadata":{"timestamp":"${timestamp}",` +
          `"clientId":"${FILLER}","tenant":"${BENCH_TENANT}"}}`;
        insert.run(BENCH_TENANT, seq, id, aggregateId, 'todo.added', FILLER, json);
      }
      setLatest.run(BENCH_TENANT, to);
    });
    for (let from = start + 1; from <= start + count; from += 10_000) {
      write.immediate(from, Math.min(start + count, from + 9_999));
    }
    return latest.get(BENCH_TENANT)?.latest ?? 0;
  } finally {
    db.close();
  }
}

const FILLER = 'bench-filler';
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
/** A fixed 10-character time part (a few seconds into 2026) and a 16-character counter: a valid, unique ULID. */
const ULID_TIME = '01KDV00000';

function ulidOf(n: number): string {
  let tail = '';
  for (let i = 0, rest = n; i < 16; i++, rest = Math.floor(rest / 32)) tail = CROCKFORD[rest % 32]! + tail;
  return ULID_TIME + tail;
}

/** The pull responses the sync server would send for the whole log in pages of `limit`, kept as text. */
async function preparePages(limit: number): Promise<number> {
  const { store } = need();
  pages = new Map();
  let since = CursorVersion.ZERO;
  for (let hasMore = true; hasMore;) {
    const page = await store.read(BENCH_TENANT, { since, limit });
    pages.set(since.toString(), JSON.stringify(encodePullResponse(page)));
    ({ next: since, hasMore } = page);
  }
  return pages.size;
}

/**
 * The push floor of `server/http.push-floor`: the least a server can do with a push over HTTP into
 * SQLite, to read `server/http.push` against what the machine allows. Per request it parses the body,
 * makes each event's JSON with `JSON.stringify`, inserts the events with the store's statement in one
 * transaction (the same file settings as the store: WAL, `synchronous=FULL`) and answers each
 * `accepted`, echoing a push chain. Nothing else: no authentication, validation, duplicate or
 * conflict check, ordering of a chain's requests, notification or limit.
 */
interface PushFloor {
  readonly db: SqliteDatabase;
  readonly append: (events: readonly FloorEvent[]) => number;
}

interface FloorEvent {
  readonly id: string;
  readonly aggregateId: string;
  readonly type: string;
  readonly metadata: { readonly clientId: string };
}

let floor: PushFloor | undefined;

/** Closes the push floor's file, if one is open; answers how many events it holds. */
function closeFloor(): number {
  const closing = floor;
  floor = undefined;
  if (!closing) return 0;
  try {
    return closing.db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM events').get()!.count;
  } finally {
    closing.db.close();
  }
}

/** Opens `path` (already holding the store's schema) as the push floor's file, closing the one before. */
function openFloor(path: string): void {
  closeFloor();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const insert = db.prepare<[string, number, string, string, string, string, string]>(
    'INSERT INTO events (tenant, seq, id, aggregate_id, type, client_id, json) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const setLatest = db.prepare<[string, number]>(
    'INSERT INTO tenants (tenant, latest) VALUES (?, ?) ON CONFLICT (tenant) DO UPDATE SET latest = excluded.latest',
  );
  let seq = 0;
  const append = db.transaction((events: readonly FloorEvent[]): number => {
    const first = seq + 1;
    for (const event of events) {
      insert.run(
        BENCH_TENANT,
        ++seq,
        event.id,
        event.aggregateId,
        event.type,
        event.metadata.clientId,
        JSON.stringify(event),
      );
    }
    setLatest.run(BENCH_TENANT, seq);
    return first;
  });
  floor = { db, append: (events) => append.immediate(events) };
}

function pushToFloor(text: string, response: ServerResponse): void {
  if (!floor) throw new Error('no floor file is open: POST /control/floor first');
  const { events, chain } = JSON.parse(text) as { events: FloorEvent[]; chain?: { id: string; seq: number } };
  const first = floor.append(events);
  // Each accepted; the chain echoed without having been decided in order (requests are taken as
  // they come): the client only checks the echo.
  let answer = '{"results":[';
  for (let i = 0; i < events.length; i++) {
    answer += `${i === 0 ? '' : ','}{"id":"${events[i]!.id}","status":"accepted","version":"${first + i}"}`;
  }
  answer += chain ? `],"chain":{"id":"${chain.id}","seq":${chain.seq}}}` : ']}';
  response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(answer) });
  response.end(answer);
}

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function json(response: ServerResponse, value: unknown, status = 200): void {
  const text = JSON.stringify(value);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

async function handleRaw(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://raw');
  switch (`${request.method} ${url.pathname}`) {
    // Baselines.
    case 'GET /raw/pages': {
      const page = pages.get(url.searchParams.get('since') ?? '0');
      if (page === undefined) return json(response, { error: 'no such page' }, 404);
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(page) });
      response.end(page);
      return;
    }
    case 'GET /raw/log': {
      const state = need();
      state.raw ??= openRawDatabase(state.path);
      const since = Number(url.searchParams.get('since') ?? '0');
      const limit = Number(url.searchParams.get('limit') ?? '1000');
      const rows = state.raw.page(BENCH_TENANT, since, limit + 1);
      const hasMore = rows.length > limit;
      if (hasMore) rows.pop();
      let text = '{"events":[';
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        text += `${i === 0 ? '' : ','}{"event":${row.json},"version":"${row.seq}"}`;
      }
      text += `],"next":"${rows.at(-1)?.seq ?? since}","hasMore":${hasMore}}`;
      response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      response.end(text);
      return;
    }
    case 'GET /raw/stream': {
      response.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      response.write(`retry: 2000\nid: ${rawSeq}\nevent: events\ndata: {"events":[],"cursor":"${rawSeq}"}\n\n`);
      rawStreams.add(response);
      response.once('close', () => rawStreams.delete(response));
      return;
    }
    case 'POST /raw/publish': {
      // The pushed batch goes to every stream as one message, with cursors counted here.
      const { events } = JSON.parse(await body(request)) as { events: unknown[] };
      let items = '';
      for (let i = 0; i < events.length; i++) {
        items += `${i === 0 ? '' : ','}{"event":${JSON.stringify(events[i])},"version":"${++rawSeq}"}`;
      }
      const message = `id: ${rawSeq}\nevent: events\ndata: {"events":[${items}],"cursor":"${rawSeq}"}\n\n`;
      for (const stream of rawStreams) stream.write(message);
      return json(response, { delivered: rawStreams.size, latest: rawSeq });
    }
    case 'POST /floor/v1/events':
      return pushToFloor(await body(request), response);
    // Controls.
    case 'POST /control/floor': {
      // `{ path }` opens a file, `{ path: null }` closes the open one and says how many events it holds.
      const { path } = JSON.parse(await body(request)) as { path: string | null };
      if (path === null) return json(response, { count: closeFloor() });
      openFloor(path);
      return json(response, { path });
    }
    case 'POST /control/open': {
      const { path } = JSON.parse(await body(request)) as { path: string };
      await open(path);
      return json(response, { path });
    }
    case 'POST /control/fill': {
      const { count } = JSON.parse(await body(request)) as { count: number };
      return json(response, { latest: fill(count) });
    }
    case 'POST /control/pages': {
      const { limit } = JSON.parse(await body(request)) as { limit: number };
      return json(response, { pages: await preparePages(limit) });
    }
    case 'GET /control/memory': {
      if (url.searchParams.has('gc')) gc();
      const { rss, heapUsed } = process.memoryUsage();
      return json(response, { rss, heapUsed, peakRss, streams: current?.handler.broker.stats.subscribers ?? 0 });
    }
    case 'POST /control/peak': {
      gc();
      peakRss = process.memoryUsage.rss();
      samplePeak();
      return json(response, { peakRss });
    }
    default:
      return json(response, { error: `no route ${request.method} ${url.pathname}` }, 404);
  }
}

async function main(): Promise<void> {
  const sync = await serve(
    {
      fetch: (request) =>
        current ? current.handler.fetch(request) : new Response('no database is open', { status: 503 }),
    },
    { port: 0, host: '127.0.0.1', shutdownTimeoutMs: 1_000 },
  );
  const raw = createServer((request, response) => {
    handleRaw(request, response).catch((error: unknown) => {
      if (!response.headersSent) json(response, { error: String(error) }, 500);
      else response.destroy();
    });
  });
  raw.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
  const { port } = raw.address() as AddressInfo;
  process.stdout.write(`ready ${sync.url} http://127.0.0.1:${port}\n`);

  const stop = async (): Promise<void> => {
    for (const stream of rawStreams) stream.destroy();
    raw.closeAllConnections();
    raw.close();
    closeFloor();
    await closeCurrent();
    await sync.close();
    process.exit(0);
  };
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
  process.once('SIGTERM', () => void stop());
}

await main();
