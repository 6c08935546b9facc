// Graceful shutdown of the app (in process), and of the program on SIGTERM (a child process running
// src/main.ts, configured by its environment).

import { isSyncError, type AppendResult, type Event, type SignalOptions } from '@eventsync/core';
import { SqliteEventStore } from '@eventsync/sqlite';
import { TestEvents } from '@eventsync/testkit';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ACME, startApp, type Running } from './support.js';

/** A SQLite store whose appends wait at a gate the test opens. */
class GatedStore extends SqliteEventStore {
  readonly entered: Promise<void>;
  #enter!: () => void;
  #open!: () => void;
  readonly #gate = new Promise<void>((resolve) => (this.#open = resolve));

  constructor(path: string) {
    super({ path });
    this.entered = new Promise((resolve) => (this.#enter = resolve));
  }

  open(): void {
    this.#open();
  }

  override async append(tenant: string, events: readonly Event[], options?: SignalOptions): Promise<AppendResult[]> {
    this.#enter();
    await this.#gate;
    return super.append(tenant, events, options);
  }
}

let running: Running | undefined;
let child: ChildProcess | undefined;
let folder: string | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  child = undefined;
  if (folder) rmSync(folder, { recursive: true, force: true });
  folder = undefined;
});

function pushBody(events: readonly Event[]): RequestInit {
  return { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ events }) };
}

/** A GET on a connection of its own (no pooled keep-alive socket): its status, or the error code. */
function freshGet(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    req.end();
  });
}

async function latestOnFile(path: string, tenant: string): Promise<string> {
  const store = new SqliteEventStore({ path });
  try {
    return (await store.latestVersion(tenant)).toString();
  } finally {
    await store.close();
  }
}

describe('graceful shutdown of the app', () => {
  it('finishes a push in flight, ends live streams, refuses new connections, then closes the store', async () => {
    let store: GatedStore | undefined;
    const server = (running = await startApp({ store: (path) => (store = new GatedStore(path)) }));
    const sync = server.app.syncPath;
    const stream = (await server.call(`${sync}/v1/stream`, ACME)).body!.getReader();
    await stream.read(); // the opening message

    const [event] = new TestEvents({ clientId: 'acme-1' }).many(1);
    const pushed = server.call(`${sync}/v1/events`, ACME, pushBody([event!]));
    await store!.entered;
    let closed = false;
    const closing = server.app.close().then(() => (closed = true));

    // The stream ends (its client would resume from its last id elsewhere) ...
    for (let part = await stream.read(); !part.done; part = await stream.read());
    // ... no new connection is taken, and the push is still being waited for.
    expect(await freshGet(`${server.url}/health`)).toBe('ECONNREFUSED');
    expect(closed).toBe(false);
    expect((await store!.latestVersion('acme')).toString()).toBe('0');

    store!.open();
    const response = await pushed;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { results: unknown }).results).toEqual([
      { id: event!.id, status: 'accepted', version: '1' },
    ]);
    await closing;
    const error = await store!.latestVersion('acme').catch((caught: unknown) => caught);
    expect(isSyncError(error, 'closed')).toBe(true);
    expect(await latestOnFile(server.dbPath, 'acme')).toBe('1');
  });

  it('cuts a request still running at the shutdown deadline, and still closes the store', async () => {
    let store: GatedStore | undefined;
    const server = (running = await startApp({
      store: (path) => (store = new GatedStore(path)),
      shutdownTimeoutMs: 200,
    }));
    const pushed = server.call(`${server.app.syncPath}/v1/events`, ACME, pushBody(new TestEvents().many(1))).then(
      (response) => response.status,
      (error: unknown) => error,
    );
    await store!.entered;
    const started = Date.now();
    await server.app.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(await pushed).toBeInstanceOf(TypeError); // fetch failed: the connection was cut
    store!.open();
    const error = await store!.latestVersion('acme').catch((caught: unknown) => caught);
    expect(isSyncError(error, 'closed')).toBe(true);
  });
});

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const MAIN = join(ROOT, 'examples/node-server/src/main.ts');

/** Runs src/main.ts with `env`, collecting its output; resolves once it prints that it is ready. */
async function startProgram(env: Record<string, string>): Promise<{ lines: string[]; exit: Promise<number | null> }> {
  const lines: string[] = [];
  const program = spawn(TSX, ['--tsconfig', join(ROOT, 'tsconfig.check.json'), MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = program;
  // 'close' rather than 'exit': by then everything it wrote has been read.
  const exit = new Promise<number | null>((resolve) => program.once('close', (code) => resolve(code)));
  let pending = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('utf8');
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      lines.push(...parts);
      if (parts.some((line) => line.includes('press Ctrl-C'))) resolve();
    };
    program.stdout.on('data', onData);
    program.stderr.on('data', onData);
    void exit.then((code) => reject(new Error(`exited with ${code}:\n${lines.join('\n')}${pending}`)));
  });
  const timeout = setTimeout(() => program.kill('SIGKILL'), 8_000);
  await ready.finally(() => clearTimeout(timeout));
  return { lines, exit };
}

describe('the program (src/main.ts)', () => {
  // A child process under tsx: about a second, more on a loaded machine.
  it(
    'reads its settings from the environment, generates the missing token, and stops on SIGTERM with 0',
    { timeout: 10_000 },
    async () => {
      folder = mkdtempSync(join(tmpdir(), 'eventsync-node-server-main-'));
      const dbPath = join(folder, 'nested', 'events.db');
      const { lines, exit } = await startProgram({
        PORT: '0',
        HOST: '127.0.0.1',
        DB_PATH: dbPath,
        ACME_TOKEN: 'acme-from-the-environment',
        QUIET: '1',
      });
      const url = /at (http:\/\/127\.0\.0\.1:\d+)$/.exec(lines.find((line) => line.includes('serving')) ?? '')?.[1];
      const globex = /tenant globex: token generated .*: (\S+)$/m.exec(lines.join('\n'))?.[1];
      expect(url).toBeDefined();
      expect(globex).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(lines).toContain('node-server: tenant acme: token from ACME_TOKEN');
      expect(lines.join('\n')).not.toContain('acme-from-the-environment');

      const stats = async (token: string): Promise<unknown> =>
        (await fetch(`${url}/api/stats`, { headers: { Authorization: `Bearer ${token}` } })).json();
      const pushed = await fetch(`${url}/sync/v1/events`, {
        ...pushBody(new TestEvents().many(2)),
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer acme-from-the-environment' },
      });
      expect(pushed.status).toBe(200);
      expect(await stats('acme-from-the-environment')).toMatchObject({ tenant: 'acme', events: 2 });
      expect(await stats(globex!)).toMatchObject({ tenant: 'globex', events: 0 });
      const stream = (
        await fetch(`${url}/sync/v1/stream`, { headers: { Authorization: `Bearer ${globex}` } })
      ).body!.getReader();
      await stream.read();

      child!.kill('SIGTERM');
      for (let part = await stream.read(); !part.done; part = await stream.read());
      expect(await exit).toBe(0);
      expect(lines.slice(-2)).toEqual([
        'node-server: stopping (SIGTERM): ending streams, finishing requests',
        'node-server: stopped',
      ]);
      expect(await latestOnFile(dbPath, 'acme')).toBe('2');
      expect(await latestOnFile(dbPath, 'globex')).toBe('0');
    },
  );
});
