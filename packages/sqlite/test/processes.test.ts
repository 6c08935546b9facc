import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { CursorVersion, type Event } from '@eventsync/core';
import { TestEvents } from '@eventsync/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const writerScript = fileURLToPath(new URL('./fixtures/append-writer.ts', import.meta.url));
const folder = mkdtempSync(join(tmpdir(), 'eventsync-sqlite-processes-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** How long any one wait on a child may take before the test gives up (and kills the child). */
const PATIENCE_MS = 30_000;

interface Ack {
  readonly ids: string[];
  readonly versions: number[];
}

interface Writer {
  readonly child: ChildProcess;
  /** The batches the child reported as acknowledged, in order: only complete lines count. */
  readonly acks: Ack[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const running = new Set<ChildProcess>();

afterEach(() => {
  // Only the children this file started, by their own pid.
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
});

/**
 * Starts `append-writer.ts` in a child Node process, which runs the sources through tsx; with
 * `leaveOpen`, the child never closes its store.
 */
function startWriter(path: string, clientId: string, batches: number, size: number, leaveOpen = false): Writer {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      writerScript,
      path,
      clientId,
      String(batches),
      String(size),
      ...(leaveOpen ? ['leave-open'] : []),
    ],
    {
      cwd: root,
      env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.check.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  running.add(child);
  const acks: Ack[] = [];
  let pending = '';
  let errors = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (line.startsWith('ack ')) acks.push(JSON.parse(line.slice(4)) as Ack);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, acks, exited, stderr: () => errors };
}

async function within<T>(promise: Promise<T>, what: string, writer: Writer): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      writer.child.kill('SIGKILL');
      reject(new Error(`timed out after ${PATIENCE_MS} ms waiting for ${what}; stderr: ${writer.stderr()}`));
    }, PATIENCE_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function untilAcks(writer: Writer, count: number): Promise<void> {
  const reached = new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (writer.acks.length >= count) resolve();
      else if (writer.child.exitCode !== null || writer.child.signalCode !== null)
        reject(new Error(`the writer exited early: ${writer.stderr()}`));
      else setTimeout(check, 2);
    };
    check();
  });
  await within(reached, `${count} acknowledged batches`, writer);
}

async function readAll(path: string): Promise<{ event: Event; version: number }[]> {
  const store = new SqliteEventStore({ path });
  try {
    const all: { event: Event; version: number }[] = [];
    let since = CursorVersion.ZERO;
    for (let hasMore = true; hasMore;) {
      const page = await store.read('acme', { since, limit: 1000 });
      all.push(...page.events.map(({ event, version }) => ({ event, version: version.value })));
      ({ next: since, hasMore } = page);
    }
    expect((await store.latestVersion('acme')).value).toBe(all.length);
    return all;
  } finally {
    await store.close();
  }
}

/** Checks the log is gapless and holds every acknowledged event at the version it was acknowledged with. */
function expectAcknowledged(all: readonly { event: Event; version: number }[], acks: readonly Ack[]): void {
  expect(all.map((item) => item.version)).toEqual(all.map((_, i) => i + 1));
  expect(new Set(all.map((item) => item.event.id)).size).toBe(all.length);
  const versionOf = new Map(all.map((item) => [item.event.id, item.version]));
  for (const ack of acks) {
    expect(ack.ids.map((id) => versionOf.get(id))).toEqual(ack.versions);
    // One batch, one transaction: its versions are contiguous.
    expect(ack.versions).toEqual(ack.versions.map((_, i) => ack.versions[0]! + i));
  }
}

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

/** mulberry32: the kill moments come from a fixed seed, so a failing run can be told apart from another. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('SqliteEventStore across processes', () => {
  it('keeps every acknowledged event, gapless, when the writing process is killed with SIGKILL', async () => {
    const path = join(folder, 'crash.db');
    const random = seeded(20261124);
    const acks: Ack[] = [];
    for (let round = 0; round < 3; round++) {
      const writer = startWriter(path, `writer-${round}`, 0, 50);
      // A random number of acknowledged batches, then a random moment inside the stream of appends.
      await untilAcks(writer, 2 + Math.floor(random() * 10));
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 20)));
      writer.child.kill('SIGKILL');
      const { signal } = await within(writer.exited, 'the writer to die', writer);
      expect(signal, writer.stderr()).toBe('SIGKILL');
      acks.push(...writer.acks);
      const all = await readAll(path);
      expectAcknowledged(all, acks);
      expect(all.length).toBeGreaterThanOrEqual(acks.length * 50);
      expect(integrity(path)).toBe('ok');
    }
  }, 120_000);

  it('lets a process end once its appends are done, though it never closed its store', async () => {
    const path = join(folder, 'left-open.db');
    const writer = startWriter(path, 'left-open', 5, 20, true);
    const { code, signal } = await within(writer.exited, 'the writer to end by itself', writer);
    expect({ code, signal }, writer.stderr()).toEqual({ code: 0, signal: null });
    expect(writer.acks).toHaveLength(5);
    const all = await readAll(path);
    expect(all).toHaveLength(100);
    expectAcknowledged(all, writer.acks);
  }, 120_000);

  it('keeps cursors gapless and batches contiguous when two processes and this one append to one file at once', async () => {
    const path = join(folder, 'shared.db');
    const store = new SqliteEventStore({ path });
    try {
      const writers = [startWriter(path, 'process-a', 25, 20), startWriter(path, 'process-b', 25, 20)];
      await Promise.all(writers.map((writer) => untilAcks(writer, 1)));
      // Appends from this process too, while both children are writing.
      const local = new TestEvents({ clientId: 'parent' });
      const acks: Ack[] = [];
      for (let i = 0; i < 10; i++) {
        const batch = local.many(20, 4);
        const results = await store.append('acme', batch);
        expect(results.every((result) => result.status === 'accepted')).toBe(true);
        acks.push({
          ids: batch.map((event) => event.id),
          versions: results.map((result) => ('version' in result ? result.version.value : 0)),
        });
      }
      for (const writer of writers) {
        const { code } = await within(writer.exited, 'the writer to finish', writer);
        expect(code, writer.stderr()).toBe(0);
        acks.push(...writer.acks);
      }
      expect(acks).toHaveLength(60);
      const all = await readAll(path);
      expect(all).toHaveLength(60 * 20);
      expectAcknowledged(all, acks);
    } finally {
      await store.close();
    }
  }, 120_000);
});
