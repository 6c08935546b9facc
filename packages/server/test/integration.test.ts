// Two devices (SyncManager + HttpTransport) sync through the real server (serve + createSyncHandler)
// over a SQLite file, on 127.0.0.1: explicit syncs with concurrent edits and a resolver, then auto
// sync driven by the live stream.

import {
  CursorVersion,
  MemoryEventStore,
  SyncManager,
  alwaysOnline,
  lastWriteWins,
  type ConflictRecord,
  type LiveBatch,
  type SubscriptionState,
  type SyncManagerOptions,
  type Transport,
  type VersionedEvent,
} from '@eventsync/core';
import { HttpTransport, type HttpTransportOptions } from '@eventsync/http';
import { SqliteEventStore } from '@eventsync/sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSyncHandler, serve, type RunningServer, type SyncHandler } from '../src/index.js';
import { ALICE, CAROL, events, TOKENS, waitUntil } from './support.js';

/** The longest a live delivery may take here; generous, since client and server share two cores. */
const PROMPTLY_MS = 5_000;

let folder: string;
let store: SqliteEventStore;
let handler: SyncHandler;
let server: RunningServer;
let closers: (() => Promise<void>)[];

beforeEach(async () => {
  folder = mkdtempSync(join(tmpdir(), 'eventsync-integration-'));
  store = new SqliteEventStore({ path: join(folder, 'events.db') });
  handler = createSyncHandler({ store, tokens: TOKENS });
  server = await serve(handler, { port: 0, host: '127.0.0.1', shutdownTimeoutMs: 2_000 });
  closers = [];
});

afterEach(async () => {
  for (const close of closers.reverse()) await close();
  await server.close();
  await store.close();
  rmSync(folder, { recursive: true, force: true });
});

function transport(token: string, options: Partial<HttpTransportOptions> = {}): HttpTransport {
  const client = new HttpTransport({
    baseUrl: server.url,
    token: () => token,
    stream: { initialDelayMs: 50, maxDelayMs: 500 },
    ...options,
  });
  closers.push(() => client.close());
  return client;
}

interface Device {
  readonly manager: SyncManager;
  readonly local: MemoryEventStore;
  readonly detected: ConflictRecord[];
  readonly resolved: ConflictRecord[];
}

function device(
  clientId: string,
  token: string,
  options: Partial<SyncManagerOptions> = {},
  transportOptions: Partial<HttpTransportOptions> = {},
): Device {
  const local = new MemoryEventStore();
  const manager = new SyncManager({
    store: local,
    transport: transport(token, transportOptions),
    clientId,
    resolver: lastWriteWins(),
    connectivity: alwaysOnline,
    ...options,
  });
  closers.push(() => manager.close());
  const detected: ConflictRecord[] = [];
  const resolved: ConflictRecord[] = [];
  manager.on('conflict.detected', ({ record }) => detected.push(record));
  manager.on('conflict.resolved', ({ record }) => resolved.push(record));
  return { manager, local, detected, resolved };
}

/** The server's log of tenant acme, read from the SQLite file. */
async function serverLog(): Promise<VersionedEvent[]> {
  const all: VersionedEvent[] = [];
  let since = CursorVersion.ZERO;
  for (let hasMore = true; hasMore;) {
    const page = await store.read('acme', { since, limit: 500 });
    all.push(...page.events);
    ({ next: since, hasMore } = page);
  }
  return all;
}

/** Syncs every device until every outbox is empty and every replica is at the server's head. */
async function syncUntilQuiet(devices: readonly Device[], rounds = 10): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const { manager } of devices) await manager.sync();
    const latest = (await store.latestVersion('acme')).value;
    const states = await Promise.all(
      devices.map(async ({ local }) => ({ pending: await local.pendingCount(), cursor: await local.cursor() })),
    );
    if (states.every(({ pending, cursor }) => pending === 0 && cursor.value === latest)) return;
  }
  throw new Error(`the devices did not converge in ${rounds} rounds`);
}

/** Each replica holds exactly the server's log: the same events, at the same versions, in order. */
async function expectReplicasEqualServer(devices: readonly Device[]): Promise<VersionedEvent[]> {
  const log = await serverLog();
  expect(log.map((item) => item.version.value)).toEqual(log.map((_, i) => i + 1));
  expect(new Set(log.map((item) => item.event.id)).size).toBe(log.length);
  const expected = log.map((item) => ({ version: item.version.toString(), event: item.event }));
  for (const { local } of devices) {
    expect(await local.pendingCount()).toBe(0);
    const replica = await local.load(CursorVersion.ZERO);
    expect(replica.map((item) => ({ version: item.version.toString(), event: item.event }))).toEqual(expected);
  }
  return log;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last title each aggregate got, folded from a log in order. */
function titles(log: readonly VersionedEvent[]): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const { event } of log) state[event.aggregateId] = (event.data as { title?: unknown }).title;
  return state;
}

describe('two SyncManagers over HttpTransport through the server on a SQLite file', () => {
  it('sync appends both ways, detect and resolve concurrent edits of the same aggregates, and end equal to the server log', async () => {
    const alice = device('alice', ALICE);
    const carol = device('carol', CAROL);

    // Both start from a shared list.
    await alice.manager.append([
      { type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } },
      { type: 'todo.added', aggregateId: 'todo-2', data: { title: 'Bread' } },
    ]);
    await syncUntilQuiet([alice, carol]);
    expect(titles(await carol.local.load(CursorVersion.ZERO))).toEqual({ 'todo-1': 'Milk', 'todo-2': 'Bread' });

    // Offline from each other, both rename the same two todos and add their own.
    await carol.manager.append([
      { type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Oat milk (carol)' } },
      { type: 'todo.renamed', aggregateId: 'todo-2', data: { title: 'Rye bread (carol)' } },
      { type: 'todo.added', aggregateId: 'carol-1', data: { title: 'Call mum' } },
    ]);
    await sleep(3); // so that Alice's edits are later by the clock, not only by a tie-break
    await alice.manager.append([
      { type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Soy milk (alice)' } },
      { type: 'todo.added', aggregateId: 'alice-1', data: { title: 'Post letter' } },
      { type: 'todo.renamed', aggregateId: 'todo-2', data: { title: 'Spelt bread (alice)' } },
    ]);

    // Carol pushes first; Alice's pull then meets Carol's edits on todo-1 and todo-2.
    const carolFirst = await carol.manager.sync();
    expect(carolFirst).toMatchObject({ pushed: 3, conflicts: 0, settled: true });
    const aliceSecond = await alice.manager.sync();
    expect(aliceSecond.conflicts).toBe(2);
    expect(aliceSecond.resolved).toBe(2);
    expect(alice.detected.map((record) => record.conflict.aggregateId).sort()).toEqual(['todo-1', 'todo-2']);
    expect(alice.resolved.map((record) => record.status)).toEqual(['resolved', 'resolved']);

    await syncUntilQuiet([alice, carol]);
    const log = await expectReplicasEqualServer([alice, carol]);
    // Last write wins by HLC: Alice edited after Carol, so her titles stand on both devices.
    expect(titles(log)).toEqual({
      'todo-1': 'Soy milk (alice)',
      'todo-2': 'Spelt bread (alice)',
      'carol-1': 'Call mum',
      'alice-1': 'Post letter',
    });
    // Nothing lost: every title either device wrote is in the log (the losers as superseded history).
    const written = new Set(log.map((item) => (item.event.data as { title: string }).title));
    for (const title of ['Milk', 'Bread', 'Oat milk (carol)', 'Rye bread (carol)', 'Call mum', 'Post letter']) {
      expect(written).toContain(title);
    }
    expect(await alice.manager.conflicts({ status: 'open' })).toEqual([]);
  });

  it('pushes a large outbox as push chains, lands it in the order it was written, and converges', async () => {
    const chains = new Map<string, number>(); // requests per chain
    let inFlight = 0;
    let most = 0;
    // Counts the push requests at once and records their chains, on their way to the real server.
    const fetch: typeof globalThis.fetch = async (input, init) => {
      const body = typeof init?.body === 'string' ? init.body : undefined;
      const chain = body === undefined ? undefined : (JSON.parse(body) as { chain?: { id: string } }).chain;
      if (chain) chains.set(chain.id, (chains.get(chain.id) ?? 0) + 1);
      most = Math.max(most, ++inFlight);
      try {
        return await globalThis.fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    // No pushBatchSize: the manager pushes the transport's preferredPushSize, 100 × 3 × 2 = 600 events.
    const alice = device('alice', ALICE, {}, { maxBatchSize: 100, pushWindow: 3, fetch });
    const carol = device('carol', CAROL);
    await alice.manager.append([{ type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } }]);
    await syncUntilQuiet([alice, carol]);
    // Offline, Alice writes 1,000 events over 40 aggregates, todo-1 among them.
    const written = Array.from({ length: 1_000 }, (_, i) => ({
      type: 'todo.renamed',
      aggregateId: i % 40 === 0 ? 'todo-1' : `todo-${(i % 40) + 1}`,
      data: { title: `title ${i}` },
    }));
    for (let i = 0; i < written.length; i += 100) await alice.manager.append(written.slice(i, i + 100));
    const synced = await alice.manager.sync();
    expect(synced).toMatchObject({ pushed: 1_000, conflicts: 0, settled: true });
    // Two pushes of 600 and 400 events, each a chain of requests of 100, up to three at once.
    expect([...chains.values()]).toEqual([6, 4]);
    expect(most).toBe(3);
    const log = await serverLog();
    expect(log.slice(1).map((item) => (item.event.data as { title: string }).title)).toEqual(
      written.map((item) => item.data.title),
    );
    await syncUntilQuiet([alice, carol]);
    await expectReplicasEqualServer([alice, carol]);
  });

  it("meets the server's conflict answer when an edit lands between pull and push, resolves it, and converges", async () => {
    const alice = device('alice', ALICE);
    // Carol's transport lets Alice sync right before Carol's next push leaves: Carol's pull saw nothing
    // new, so only the server's per-aggregate check can catch the concurrent edit.
    let beforePush: (() => Promise<unknown>) | undefined;
    const answers: string[] = [];
    const carolTransport = transport(CAROL);
    const racing: Transport = {
      push: async (batch, options) => {
        const hook = beforePush;
        beforePush = undefined;
        await hook?.();
        const results = await carolTransport.push(batch, options);
        answers.push(...results.map((result) => result.status));
        return results;
      },
      pull: (since, options) => carolTransport.pull(since, options),
      latestVersion: (options) => carolTransport.latestVersion(options),
      subscribe: (onBatch, options) => carolTransport.subscribe(onBatch, options),
      close: () => carolTransport.close(),
    };
    const carol = device('carol', CAROL, { transport: racing });

    await alice.manager.append({ type: 'todo.added', aggregateId: 'todo-9', data: { title: 'Tea' } });
    await syncUntilQuiet([alice, carol]);
    await alice.manager.append({ type: 'todo.renamed', aggregateId: 'todo-9', data: { title: 'Black tea' } });
    await sleep(3);
    await carol.manager.append({ type: 'todo.renamed', aggregateId: 'todo-9', data: { title: 'Green tea' } });
    beforePush = () => alice.manager.sync();

    const result = await carol.manager.sync();
    expect(answers[0]).toBe('conflict');
    expect(result.conflicts).toBe(1);
    expect(result.resolved).toBe(1);
    expect(carol.detected.map((record) => record.conflict.aggregateId)).toEqual(['todo-9']);
    await syncUntilQuiet([alice, carol]);
    const log = await expectReplicasEqualServer([alice, carol]);
    // Carol's rename was made after Alice's (later HLC), so it wins on both devices.
    expect(titles(log)).toEqual({ 'todo-9': 'Green tea' });
  });

  it('auto sync: a push by one started manager reaches the other through the live stream promptly', async () => {
    // Polling and the safety-net interval are far away: only the stream can bring a change in time.
    const autoSync = { intervalMs: 120_000, pollIntervalMs: 120_000, debounceMs: 10 };
    const alice = device('alice', ALICE, { autoSync });
    const carol = device('carol', CAROL, { autoSync });
    alice.manager.start();
    carol.manager.start();
    await waitUntil(
      () => alice.manager.status.live === 'live' && carol.manager.status.live === 'live',
      PROMPTLY_MS,
      'both live streams',
    );
    await waitUntil(
      () => !alice.manager.status.syncing && !carol.manager.status.syncing,
      PROMPTLY_MS,
      'the first syncs',
    );

    const has = async (local: MemoryEventStore, id: string) => (await local.find(id))?.status === 'confirmed';
    for (const [from, to] of [
      [alice, carol],
      [carol, alice],
    ] as const) {
      const [event] = await from.manager.append({
        type: 'todo.added',
        aggregateId: `todo-${from.manager.clientId}`,
        data: { title: `from ${from.manager.clientId}` },
      });
      const started = Date.now();
      let arrived = false;
      while (!arrived && Date.now() - started < PROMPTLY_MS) {
        arrived = await has(to.local, event!.id);
        if (!arrived) await sleep(10);
      }
      expect(arrived, `${event!.id} reached ${to.manager.clientId} within ${PROMPTLY_MS} ms`).toBe(true);
    }

    // Concurrent edits of one aggregate while both run on their own: they settle on the server's log.
    await Promise.all(
      [alice, carol].map(async ({ manager }) => {
        for (let i = 0; i < 5; i++) {
          await manager.append({
            type: 'todo.renamed',
            aggregateId: 'todo-shared',
            data: { title: `${manager.clientId} ${i}` },
          });
          await sleep(5);
        }
      }),
    );
    await waitUntil(
      () =>
        [alice, carol].every(
          ({ manager }) => manager.status.pending === 0 && !manager.status.syncing && manager.status.live === 'live',
        ),
      15_000,
      'both outboxes empty',
    );
    const latest = (await store.latestVersion('acme')).value;
    for (const { local } of [alice, carol]) {
      const deadline = Date.now() + PROMPTLY_MS;
      while ((await local.cursor()).value !== latest && Date.now() < deadline) {
        await sleep(10);
      }
    }
    await expectReplicasEqualServer([alice, carol]);
  });

  it('brings a push to an SSE subscriber promptly, once', async () => {
    const follower = transport(CAROL);
    const seen: VersionedEvent[] = [];
    let state: SubscriptionState = 'connecting';
    const subscription = follower.subscribe(
      (batch: LiveBatch) => {
        seen.push(...batch.events);
      },
      { onStateChange: (next) => (state = next) },
    );
    await waitUntil(() => state === 'live', PROMPTLY_MS, 'the stream');
    const batch = events('alice').many(3, 1);
    const started = Date.now();
    const results = await transport(ALICE).push(batch);
    expect(results.map((result) => result.status)).toEqual(['accepted', 'accepted', 'accepted']);
    await waitUntil(() => seen.length >= 3, PROMPTLY_MS, 'the pushed events on the stream');
    expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);
    await sleep(50);
    expect(seen.map((item) => [item.version.value, item.event.id])).toEqual(batch.map((event, i) => [i + 1, event.id]));
    expect(handler.broker.stats.subscribers).toBe(1);
    subscription.close();
  });
});
