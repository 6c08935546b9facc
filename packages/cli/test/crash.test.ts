// The eventsync process killed with SIGKILL in the middle of a stream of pushes, then restarted on the
// same SQLite file and port: every push that was answered is still there, and the clients resume and
// converge without losing or doubling an event.

import {
  CursorVersion,
  MemoryEventStore,
  SyncManager,
  alwaysOnline,
  lastWriteWins,
  type Event,
  type LiveBatch,
  type VersionedEvent,
} from '@eventsync/core';
import { HttpTransport } from '@eventsync/http';
import { TestEvents } from '@eventsync/testkit';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const TOKENS = ['acme:alice-token', 'acme:carol-token', 'acme:pusher-token'];

let folder: string;
let children: ChildProcess[];
let closers: (() => Promise<void>)[];

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'eventsync-crash-'));
  children = [];
  closers = [];
});

afterEach(async () => {
  for (const close of closers.reverse()) await close().catch(() => undefined);
  // Only the processes this test started, by their ids.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(folder, { recursive: true, force: true });
});

interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly exited: Promise<void>;
}

/** Starts `eventsync serve` from its sources and resolves once it prints its URL. */
async function startServer(db: string, port: number, timeoutMs = 20_000): Promise<ServerProcess> {
  const args = ['--import', 'tsx', 'packages/cli/src/main.ts', 'serve', '--db', db, '--port', String(port), '--quiet'];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.check.json', EVENTSYNC_TOKENS: TOKENS.join(',') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise<ServerProcess>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`eventsync printed no URL in ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`eventsync exited (${code ?? signal}) before serving: ${stdout}${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = / at (http:\/\/\S+)/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, url: match[1]!, exited });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Every event of tenant acme, pulled page by page. */
async function pullAll(transport: HttpTransport): Promise<VersionedEvent[]> {
  const all: VersionedEvent[] = [];
  let since = CursorVersion.ZERO;
  for (let hasMore = true; hasMore;) {
    const page = await transport.pull(since, { limit: 1000 });
    all.push(...page.events);
    ({ next: since, hasMore } = page);
  }
  return all;
}

describe('the eventsync process killed with SIGKILL during a stream of pushes', () => {
  it(
    'keeps every acknowledged event after a restart on the same file; clients resume and converge',
    { timeout: 60_000 },
    async () => {
      const db = join(folder, 'events.db');
      let server = await startServer(db, 0);
      const url = server.url;
      const port = Number(new URL(url).port);

      const transport = (token: string): HttpTransport => {
        const client = new HttpTransport({
          baseUrl: url,
          token: () => token,
          timeoutMs: 5_000,
          stream: { initialDelayMs: 50, maxDelayMs: 300 },
        });
        closers.push(() => client.close());
        return client;
      };

      // What the server answered: id → version, for every accepted or duplicate result received.
      const acknowledged = new Map<string, string>();
      const acknowledge = (id: string, version: string): void => {
        const earlier = acknowledged.get(id);
        if (earlier !== undefined) expect(version, `${id} acknowledged twice at different versions`).toBe(earlier);
        acknowledged.set(id, version);
      };

      // A raw pusher: batches of 25 on shared aggregates, as fast as the server answers.
      const pusher = transport('pusher-token');
      const raw = new TestEvents({ clientId: 'pusher' });
      const pushed: Event[] = [];
      let inFlight = 0;
      let failures = 0;

      // Two devices appending and syncing in a loop, on their own aggregates and on shared ones.
      const devices = ['alice', 'carol'].map((clientId) => {
        const local = new MemoryEventStore();
        const manager = new SyncManager({
          store: local,
          transport: transport(`${clientId}-token`),
          clientId,
          resolver: lastWriteWins(),
          connectivity: alwaysOnline,
        });
        closers.push(() => manager.close());
        manager.on('event.acknowledged', ({ acks }) => {
          for (const ack of acks) acknowledge(ack.id, ack.version.toString());
        });
        return { clientId, local, manager, appended: [] as Event[] };
      });

      // A live follower from the start of the log: it must resume across the crash, nothing twice.
      const follower = transport('alice-token');
      const followed: VersionedEvent[] = [];
      const states: string[] = [];
      const subscription = follower.subscribe(
        (batch: LiveBatch) => {
          followed.push(...batch.events);
        },
        {
          since: CursorVersion.ZERO,
          onStateChange: (state, error) => states.push(error ? `${state} (${error.code}: ${error.message})` : state),
        },
      );
      closers.push(async () => subscription.close());

      let running = true;
      // The pusher sends a batch again until it is answered, as a client with an outbox does.
      const pusherLoop = (async () => {
        let batch: Event[] = [];
        while (running) {
          if (batch.length === 0) {
            batch = Array.from({ length: 25 }, (_, i) => raw.make(`shared-${i % 5}`));
            pushed.push(...batch);
          }
          inFlight++;
          let results;
          try {
            results = await pusher.push(batch);
          } catch {
            failures++;
            await sleep(20);
            continue;
          } finally {
            inFlight--;
          }
          for (const result of results) {
            if (result.status !== 'accepted' && result.status !== 'duplicate') {
              throw new Error(`unexpected ${result.status} for ${result.id}`);
            }
            acknowledge(result.id, result.version.toString());
          }
          batch = [];
        }
      })();
      const deviceLoops = devices.map(async (device, n) => {
        for (let round = 0; running; round++) {
          const made = await device.manager.append([
            { type: 'todo.renamed', aggregateId: `todo-${round % 3}`, data: { title: `${device.clientId} ${round}` } },
            { type: 'todo.touched', aggregateId: `own-${device.clientId}`, data: { round } },
          ]);
          device.appended.push(...made);
          await device.manager.sync().catch(() => sleep(20 + n * 7));
        }
      });

      // Kill it once a good part of the stream is through, with requests in flight.
      const deadline = Date.now() + 20_000;
      while (acknowledged.size < 600 && Date.now() < deadline) await sleep(5);
      expect(acknowledged.size).toBeGreaterThanOrEqual(600);
      while (inFlight === 0) await sleep(0);
      server.child.kill('SIGKILL');
      await server.exited;
      const acknowledgedBeforeKill = new Map(acknowledged);
      expect(server.child.signalCode).toBe('SIGKILL');

      // Clients keep trying while it is down; then it comes back on the same file and port.
      await sleep(300);
      const failuresWhileDown = failures;
      server = await startServer(db, port);
      expect(server.url).toBe(url);
      const resumedAt = acknowledged.size;
      const resumeDeadline = Date.now() + 15_000;
      while (acknowledged.size < resumedAt + 300 && Date.now() < resumeDeadline) await sleep(10);
      running = false;
      await Promise.all([pusherLoop, ...deviceLoops]);
      expect(failuresWhileDown).toBeGreaterThan(0);
      expect(acknowledged.size).toBeGreaterThanOrEqual(resumedAt + 300);

      // Every event acknowledged before the kill is in the log, at the version it was acknowledged with.
      const check = transport('alice-token');
      let log = await pullAll(check);
      const versionOf = new Map(log.map((item) => [item.event.id, item.version.toString()]));
      for (const [id, version] of acknowledgedBeforeKill) expect(versionOf.get(id), id).toBe(version);
      for (const [id, version] of acknowledged) expect(versionOf.get(id), id).toBe(version);

      // The pusher retries whatever went unanswered: the server answers each as accepted or duplicate.
      const unanswered = pushed.filter((event) => !acknowledged.has(event.id));
      for (const result of await pusher.push(unanswered)) {
        expect(['accepted', 'duplicate']).toContain(result.status);
        acknowledge(result.id, (result as { version: CursorVersion }).version.toString());
      }

      // The devices sync until quiet: outboxes empty, replicas at the head.
      for (let pass = 0; pass < 10; pass++) {
        for (const { manager } of devices) await manager.sync();
        const latest = (await check.latestVersion()).value;
        const quiet = await Promise.all(
          devices.map(
            async ({ local }) => (await local.pendingCount()) === 0 && (await local.cursor()).value === latest,
          ),
        );
        if (quiet.every(Boolean)) break;
      }

      log = await pullAll(check);
      expect(log.map((item) => item.version.value)).toEqual(log.map((_, i) => i + 1));
      const ids = log.map((item) => item.event.id);
      expect(new Set(ids).size).toBe(ids.length);
      const inLog = new Set(ids);
      // Nothing lost: every pushed event is in the log; every event a device appended is either in it
      // or was resolved away by last-write-wins with a recorded decision.
      for (const event of pushed) expect(inLog.has(event.id), event.id).toBe(true);
      for (const { local, appended, manager } of devices) {
        expect(await local.pendingCount()).toBe(0);
        const replica = await local.load(CursorVersion.ZERO);
        expect(replica.map((item) => [item.version.value, item.event.id])).toEqual(
          log.map((item) => [item.version.value, item.event.id]),
        );
        for (const event of appended) {
          const state = await manager.eventState(event.id);
          if (state.status === 'acknowledged') expect(inLog.has(event.id)).toBe(true);
          else expect(state.status, `${event.id}: ${JSON.stringify(state)}`).toBe('resolved');
        }
        // Each device's own aggregate holds every round it made, once, in order.
        const own = log.filter((item) => item.event.aggregateId === `own-${manager.clientId}`);
        expect(own.map((item) => (item.event.data as { round: number }).round)).toEqual(own.map((_, i) => i));
      }

      // The live follower resumed across the crash: the whole log, in order, nothing twice.
      const followDeadline = Date.now() + 5_000;
      while (followed.length < log.length && Date.now() < followDeadline) await sleep(10);
      expect(
        followed.map((item) => item.event.id),
        `the follower's states: ${states.join('; ')}`,
      ).toEqual(ids);

      server.child.kill('SIGTERM');
      await server.exited;
      expect(server.child.exitCode).toBe(0);
    },
  );
});
