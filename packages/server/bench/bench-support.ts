// Shared by the server benchmarks and their server process (bench-server.ts).

import type { Event } from '@eventsync/core';
import { batchesOf, benchEvents } from '../../bench/src/index.js';
import type { SqliteEventStoreOptions } from '@eventsync/sqlite';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_TENANT = 'acme';
export const BENCH_TOKEN = 'bench-token';
export const BENCH_TOKENS = { [BENCH_TOKEN]: { principal: 'bench', tenant: BENCH_TENANT } };

/** A better-sqlite3 connection, typed through `@eventsync/sqlite`, which depends on it. */
export type SqliteDatabase = NonNullable<SqliteEventStoreOptions['database']>;
type SqliteDatabaseConstructor = new (path: string, options?: { readonly?: boolean }) => SqliteDatabase;

/**
 * better-sqlite3 as `@eventsync/sqlite` resolves it: the server package does not depend on it (its
 * log is passed in), so the raw baselines borrow the SQLite package's copy.
 */
export const Database = createRequire(new URL('../../sqlite/package.json', import.meta.url))(
  'better-sqlite3',
) as SqliteDatabaseConstructor;

/** A read-only connection that reads pages of the log straight from the store's table. */
export interface RawDatabase {
  page(tenant: string, since: number, limit: number): { seq: number; json: string }[];
  close(): void;
}

export function openRawDatabase(path: string): RawDatabase {
  const db = new Database(path, { readonly: true });
  const page = db.prepare<[string, number, number], { seq: number; json: string }>(
    'SELECT seq, json FROM events WHERE tenant = ? AND seq > ? ORDER BY seq LIMIT ?',
  );
  return { page: (tenant, since, limit) => page.all(tenant, since, limit), close: () => db.close() };
}

/** A temporary folder; each call of `newPath` names a fresh database file in it. */
export function workspace(name: string) {
  const folder = mkdtempSync(join(tmpdir(), `eventsync-bench-${name}-`));
  let files = 0;
  return {
    folder,
    newPath: () => join(folder, `log-${++files}.db`),
    removeFile: (path: string) => {
      for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    },
    remove: () => rmSync(folder, { recursive: true, force: true }),
  };
}

/** `size` events for the bench tenant: see `benchEvents`. */
export function buildEvents(size: number, aggregates = 1_000, clientId = 'bench-client'): Event[] {
  return benchEvents(size, { aggregates, clientId, tenant: BENCH_TENANT });
}

export { batchesOf };

/** The value below which `p` (0–1) of the values lie (nearest rank); `values` must not be empty. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

export const MiB = 2 ** 20;

/** What the server process says of its memory, in bytes. */
export interface ServerMemory {
  readonly rss: number;
  readonly heapUsed: number;
  /** The highest RSS seen (sampled every 5 ms) since the last `resetPeak`. */
  readonly peakRss: number;
  readonly streams: number;
}

/** The server process of a benchmark; see bench-server.ts. */
export interface BenchServer {
  /** The sync server (serve + createSyncHandler on SQLite). */
  readonly syncUrl: string;
  /** The plain node:http server with the raw baselines and the controls. */
  readonly rawUrl: string;
  /** Opens (or creates) `path` as the sync server's log, closing the one before. */
  open(path: string): Promise<void>;
  /** The push floor's base URL for `HttpTransport` (see bench-server.ts): pushes only. */
  readonly floorUrl: string;
  /** Opens `path`, which must hold the store's schema, as the push floor's file, closing the one before. */
  openFloor(path: string): Promise<void>;
  /** Closes the push floor's file; answers how many events it holds (0 when none was open). */
  closeFloor(): Promise<number>;
  /** Writes `count` valid events after the open log's head (raw inserts: fast); answers the latest version. */
  fill(count: number): Promise<number>;
  /** Prepares the raw page server's answers: the sync server's pull responses for the whole log. */
  preparePages(limit: number): Promise<number>;
  /** Its memory, after a full garbage collection when `gc`. */
  memory(gc?: boolean): Promise<ServerMemory>;
  /** Collects garbage and starts the peak over from the RSS now. */
  resetPeak(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL after 5 s); idempotent. */
  stop(): Promise<void>;
}

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = fileURLToPath(new URL('./bench-server.ts', import.meta.url));

/**
 * Node options for the server process from `EVENTSYNC_BENCH_SERVER_ARGS`, split on spaces: to profile
 * the server, `EVENTSYNC_BENCH_SERVER_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' pnpm bench server/http.push`.
 */
const serverArgs = (process.env.EVENTSYNC_BENCH_SERVER_ARGS ?? '').split(' ').filter((arg) => arg !== '');

/** Starts bench-server.ts in a child process and waits until it serves. */
export function startBenchServer(timeoutMs = 30_000): Promise<BenchServer> {
  const child = spawn(process.execPath, [...serverArgs, '--expose-gc', '--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.check.json') },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise<BenchServer>((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL'); // our own child, by its pid
      reject(new Error(`the benchmark server did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`the benchmark server exited (${code ?? signal}) before serving: ${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^ready (\S+) (\S+)$/m.exec(stdout);
      if (!match || started) return;
      started = true;
      clearTimeout(timer);
      const [, syncUrl, rawUrl] = match as unknown as [string, string, string];
      const control = async <T>(path: string, body?: unknown): Promise<T> => {
        const response = await fetch(`${rawUrl}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          ...(body === undefined
            ? {}
            : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
        });
        const answer = (await response.json()) as T & { error?: string };
        if (!response.ok) throw new Error(`${path}: ${answer.error ?? response.status}\n${stderr}`);
        return answer;
      };
      let stopping: Promise<void> | undefined;
      resolve({
        syncUrl,
        rawUrl,
        open: async (path) => {
          await control('/control/open', { path });
        },
        floorUrl: `${rawUrl}/floor`,
        openFloor: async (path) => {
          await control('/control/floor', { path });
        },
        closeFloor: async () => (await control<{ count: number }>('/control/floor', { path: null })).count,
        fill: async (count) => (await control<{ latest: number }>('/control/fill', { count })).latest,
        preparePages: async (limit) => (await control<{ pages: number }>('/control/pages', { limit })).pages,
        memory: (gc = true) => control<ServerMemory>(`/control/memory${gc ? '?gc' : ''}`),
        resetPeak: async () => {
          await control('/control/peak', {});
        },
        stop: () =>
          (stopping ??= (async () => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            child.stdin.end();
            child.kill('SIGTERM');
            let timer: ReturnType<typeof setTimeout> | undefined;
            await Promise.race([exited, new Promise((done) => (timer = setTimeout(done, 5_000)))]);
            clearTimeout(timer);
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
            await exited;
          })()),
      });
    });
  });
}

/**
 * A bare SSE reader over a fetch body: splits messages on blank lines and hands each `data:` line to
 * `onData`. As little as a client can do; the raw side of the stream benchmarks.
 */
export async function openRawStream(
  url: string,
  onData: (data: string) => void,
  signal: AbortSignal,
): Promise<{ done: Promise<void> }> {
  const response = await fetch(url, { headers: { Accept: 'text/event-stream' }, signal });
  if (!response.ok || !response.body) throw new Error(`${url}: ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const done = (async () => {
    try {
      for (;;) {
        const { done: ended, value } = await reader.read();
        if (ended) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const at = block.indexOf('\ndata: ');
          if (at >= 0) onData(block.slice(at + 7));
          else if (block.startsWith('data: ')) onData(block.slice(6));
        }
      }
    } catch {
      // Aborted: the benchmark is done with it.
    }
  })();
  return { done };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
