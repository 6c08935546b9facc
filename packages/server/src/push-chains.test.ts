import { CursorVersion, isSyncError, MemoryServerEventLog, type Event } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { ALICE, BOB, CAROL, events, snapshot, testServer, type TestServer } from '../test/support.js';
import { PushChains } from './push-chains.js';

interface Chain {
  readonly id: string;
  readonly seq: number;
}

function chainedPush(
  server: TestServer,
  batch: readonly Event[],
  chain: Chain,
  options: { token?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  return server.request('/v1/events', {
    method: 'POST',
    token: options.token ?? ALICE,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ events: batch, chain }),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

async function resultsOf(
  response: Response,
): Promise<{ id: string; status: string; version?: string; latest?: string }[]> {
  expect(response.status).toBe(200);
  return ((await response.json()) as { results: { id: string; status: string }[] }).results;
}

async function problemCode(response: Response): Promise<string> {
  expect(response.status).toBe(409);
  expect(response.headers.get('Content-Type')).toBe('application/problem+json');
  return ((await response.json()) as { code: string }).code;
}

/** Resolves once `chains` has `count` pushes waiting for their turn (bounded: fails after 200 checks). */
async function waitingPushes(chains: () => number, count: number): Promise<void> {
  for (let i = 0; i < 200 && chains() < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(chains()).toBe(count);
}

/** A memory log that counts how many appends are waiting, to watch a chain's later pushes wait. */
class WatchedLog extends MemoryServerEventLog {
  appends = 0;
  override async append(...args: Parameters<MemoryServerEventLog['append']>) {
    this.appends++;
    return super.append(...args);
  }
}

async function storedIds(store: MemoryServerEventLog, tenant = 'acme'): Promise<string[]> {
  const page = await store.read(tenant, { since: CursorVersion.ZERO, limit: 100_000 });
  return page.events.map((item) => item.event.id);
}

describe('push chains over the sync handler', () => {
  it('decides a chain in seq order when its later pushes arrive first', async () => {
    const store = new WatchedLog();
    const server = testServer({ store });
    const alice = events();
    const batches = [0, 1, 2, 3].map(() => alice.many(5, 3));
    const chain = 'chain-order';
    // Pushes 3, 2 and 1 are sent first: they are read and checked, then wait for push 0.
    const later = [3, 2, 1].map((seq) => chainedPush(server, batches[seq]!, { id: chain, seq }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(store.appends).toBe(0);
    const first = await chainedPush(server, batches[0]!, { id: chain, seq: 0 });
    const rest = await Promise.all((await Promise.all(later)).map(resultsOf));
    const answers = [await resultsOf(first), ...rest.reverse()];
    expect(answers.flat().map((result) => result.status)).toEqual(Array(20).fill('accepted'));
    // Stored in chain order, whatever the order of arrival.
    expect(await storedIds(store)).toEqual(batches.flat().map((event) => event.id));
    expect(answers.flat().map((result) => result.version)).toEqual(batches.flat().map((_, i) => String(i + 1)));
  });

  it('echoes the chain of a chained push in its answer, and nothing for a push without one', async () => {
    const server = testServer();
    const alice = events();
    const chained = (await (await chainedPush(server, alice.many(2), { id: 'echo', seq: 0 })).json()) as {
      chain?: unknown;
    };
    expect(chained.chain).toEqual({ id: 'echo', seq: 0 });
    const plain = (await (await server.push(alice.many(2))).json()) as Record<string, unknown>;
    expect(Object.keys(plain)).toEqual(['results']);
  });

  it('answers conflict for an aggregate that met a conflict earlier in the chain, as one push would', async () => {
    const alice = events('alice');
    const carol = events('carol');
    const setup = async (): Promise<TestServer> => {
      const server = testServer();
      // Carol writes todo-1 at version 1, after the base (0) of Alice's first event on it.
      expect((await resultsOf(await server.push([carol.make('todo-1')], CAROL)))[0]?.status).toBe('accepted');
      return server;
    };
    const stale = alice.make('todo-1', { metadata: { baseVersion: '0' } });
    // Alone, this later event (based on version 1) would be accepted.
    const later = alice.make('todo-1', { metadata: { baseVersion: '1' } });
    const other = alice.make('todo-2', { metadata: { baseVersion: '0' } });
    const alone = await setup();
    expect((await resultsOf(await alone.push([later])))[0]?.status).toBe('accepted');

    const server = await setup();
    const before = await snapshot(server.store);
    const first = await resultsOf(await chainedPush(server, [stale], { id: 'c', seq: 0 }));
    expect(first).toMatchObject([{ id: stale.id, status: 'conflict', latest: '1' }]);
    const second = await resultsOf(await chainedPush(server, [later, other], { id: 'c', seq: 1 }));
    expect(second).toMatchObject([
      { id: later.id, status: 'conflict', latest: '1' },
      { id: other.id, status: 'accepted', version: '2' },
    ]);
    expect(await storedIds(server.store)).not.toContain(later.id);
    expect(before).not.toBe(await snapshot(server.store));
  });

  it('answers chain_unknown for a push whose predecessor never came, and stores nothing', async () => {
    const server = testServer({ limits: { pushChainWaitMs: 30 } });
    const before = await snapshot(server.store);
    const response = await chainedPush(server, events().many(3), { id: 'lost', seq: 1 });
    expect(await problemCode(response)).toBe('chain_unknown');
    expect(await snapshot(server.store)).toBe(before);
  });

  it('refuses the rest of a chain at once when a push of it was refused', async () => {
    // A wait longer than the test's timeout: a later push that waited for it would fail the test.
    const server = testServer({ limits: { pushChainWaitMs: 600_000, maxEventBytes: 2_000 } });
    const alice = events();
    const later = chainedPush(server, alice.many(2), { id: 'big', seq: 1 });
    const tooLarge = alice.make('todo-1', { data: { text: 'x'.repeat(3_000) } });
    const first = await chainedPush(server, [tooLarge], { id: 'big', seq: 0 });
    expect(first.status).toBe(413);
    expect(await problemCode(await later)).toBe('chain_broken');
    expect(await problemCode(await chainedPush(server, alice.many(1), { id: 'big', seq: 2 }))).toBe('chain_broken');
    expect(await storedIds(server.store)).toEqual([]);
  });

  it('refuses only the pushes after one that was refused: an earlier push that arrives late still goes', async () => {
    const server = testServer({ limits: { pushChainWaitMs: 600_000, maxEventBytes: 2_000, maxEventsPerPush: 5 } });
    const alice = events();
    const first = alice.many(2);
    const late = alice.many(2);
    await resultsOf(await chainedPush(server, first, { id: 'late', seq: 0 }));
    // Push 2 is refused (an event too large) before push 1 arrives.
    const tooLarge = alice.make('todo-1', { data: { text: 'x'.repeat(3_000) } });
    expect((await chainedPush(server, [tooLarge], { id: 'late', seq: 2 })).status).toBe(413);
    expect((await resultsOf(await chainedPush(server, late, { id: 'late', seq: 1 }))).map((r) => r.status)).toEqual([
      'accepted',
      'accepted',
    ]);
    expect(await problemCode(await chainedPush(server, alice.many(1), { id: 'late', seq: 3 }))).toBe('chain_broken');
    // A push refused for its envelope (more events than maxEventsPerPush) breaks its chain too.
    const other = alice.many(1);
    await resultsOf(await chainedPush(server, other, { id: 'many', seq: 0 }));
    expect((await chainedPush(server, alice.many(6), { id: 'many', seq: 1 })).status).toBe(413);
    expect(await problemCode(await chainedPush(server, alice.many(1), { id: 'many', seq: 2 }))).toBe('chain_broken');
    expect(await storedIds(server.store)).toEqual([...first, ...late, ...other].map((event) => event.id));
  });

  it('authorizes a chained push once the earlier pushes of its chain are stored, as one request after the other', async () => {
    const store = new MemoryServerEventLog();
    // Only a todo that exists may be renamed: the hook reads the log.
    const authorize = async (event: Event): Promise<true | string> => {
      if (event.type !== 'todo.renamed') return true;
      const page = await store.read('acme', { since: CursorVersion.ZERO, limit: 1000 });
      return page.events.some((item) => item.event.aggregateId === event.aggregateId) || 'no such todo';
    };
    const server = testServer({ store, authorize });
    const alice = events();
    const rename = chainedPush(server, [alice.make('todo-1', { type: 'todo.renamed' })], { id: 'auth', seq: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await resultsOf(await chainedPush(server, [alice.make('todo-1', { type: 'todo.added' })], { id: 'auth', seq: 0 }));
    expect((await resultsOf(await rename))[0]?.status).toBe('accepted');
  });

  it('refuses a chain id used again, and a seq decided already', async () => {
    const server = testServer();
    const alice = events();
    await resultsOf(await chainedPush(server, alice.many(1), { id: 'again', seq: 0 }));
    await resultsOf(await chainedPush(server, alice.many(1), { id: 'again', seq: 1 }));
    expect(await problemCode(await chainedPush(server, alice.many(1), { id: 'again', seq: 0 }))).toBe('chain_broken');
    expect(await problemCode(await chainedPush(server, alice.many(1), { id: 'again', seq: 1 }))).toBe('chain_broken');
    expect(await storedIds(server.store)).toHaveLength(2);
  });

  it('keeps the chains of different tenants apart, even with the same id', async () => {
    const server = testServer({ limits: { pushChainWaitMs: 30 } });
    await resultsOf(await chainedPush(server, events('alice').many(1), { id: 'shared', seq: 0 }));
    // Bob's tenant has no push 0 of "shared": his push 1 does not ride on Alice's chain.
    expect(
      await problemCode(await chainedPush(server, events('bob').many(1), { id: 'shared', seq: 1 }, { token: BOB })),
    ).toBe('chain_unknown');
    await resultsOf(await chainedPush(server, events('alice').many(1), { id: 'shared', seq: 1 }));
    expect(await storedIds(server.store, 'globex')).toEqual([]);
  });

  it('lets a waiting push go when its client leaves, storing nothing of it', async () => {
    const store = new WatchedLog();
    const server = testServer({ store, limits: { pushChainWaitMs: 600_000 } });
    const alice = events();
    const controller = new AbortController();
    const waiting = chainedPush(server, alice.many(2), { id: 'gone', seq: 1 }, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 20));
    controller.abort();
    await waiting.then(
      (response) => expect(response.status).toBeGreaterThanOrEqual(400),
      (error: unknown) => expect(error).toBeDefined(),
    );
    expect(store.appends).toBe(0);
    await resultsOf(await chainedPush(server, alice.many(1), { id: 'gone', seq: 0 }));
    expect(await storedIds(store)).toHaveLength(1);
  });

  it('refuses a malformed chain with 400 naming the field', async () => {
    const server = testServer();
    const response = await server.request('/v1/events', {
      method: 'POST',
      token: ALICE,
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: [], chain: { id: 'has space', seq: 0 } }),
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string; detail: string }).detail).toContain('chain.id');
  });
});

describe('PushChains', () => {
  const tenant = 'acme';

  function clock(): { now: () => number; advance(ms: number): void } {
    let time = 1_000;
    return { now: () => time, advance: (ms) => (time += ms) };
  }

  async function refusal(promise: Promise<unknown>): Promise<unknown> {
    try {
      await promise;
    } catch (error) {
      if (isSyncError(error)) return error.details.problem;
      throw error;
    }
    throw new Error('expected a refusal');
  }

  it('gives seq 0 its turn at once and each later seq after the one before is done', async () => {
    const chains = new PushChains({ waitMs: 10_000, maxChains: 10 });
    const order: number[] = [];
    const second = chains.turn(tenant, { id: 'a', seq: 1 }).then((turn) => {
      order.push(1);
      turn.done([], () => undefined);
    });
    const first = await chains.turn(tenant, { id: 'a', seq: 0 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(order).toEqual([]);
    expect(chains.waiting).toBe(1);
    order.push(0);
    first.done([], () => undefined);
    await second;
    expect(order).toEqual([0, 1]);
    expect(chains.waiting).toBe(0);
  });

  it('answers chain_unknown after unseenWaitMs, not waitMs, for a chain no push of which reached this node', async () => {
    const chains = new PushChains({ waitMs: 60_000, unseenWaitMs: 20, maxChains: 10 });
    expect(await refusal(chains.turn(tenant, { id: 'elsewhere', seq: 3 }))).toBe('chain_unknown');
    expect(chains.waiting).toBe(0);
  });

  it('waits waitMs from its arrival once a push of its chain arrives, though it came first', async () => {
    const chains = new PushChains({ waitMs: 60_000, unseenWaitMs: 20, maxChains: 10 });
    const second = chains.turn(tenant, { id: 'late-first', seq: 1 });
    const first = await chains.turn(tenant, { id: 'late-first', seq: 0 });
    await new Promise((resolve) => setTimeout(resolve, 60)); // push 0 is decided slowly, past unseenWaitMs
    first.done([], () => undefined);
    (await second).done([], () => undefined);
    expect(chains.waiting).toBe(0);
  });

  it('waits waitMs, not unseenWaitMs, for a chain it knows when the push before is decided slowly', async () => {
    const chains = new PushChains({ waitMs: 60_000, unseenWaitMs: 20, maxChains: 10 });
    const first = await chains.turn(tenant, { id: 'slow', seq: 0 });
    const second = chains.turn(tenant, { id: 'slow', seq: 1 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    first.done([], () => undefined);
    (await second).done([], () => undefined);
  });

  it('never forgets a chain in use for room: its later pushes still find it', async () => {
    const chains = new PushChains({ waitMs: 60_000, unseenWaitMs: 20, maxChains: 1, maxChainsPerTenant: 1 });
    const busy = await chains.turn(tenant, { id: 'busy', seq: 0 }); // decided slowly
    (await chains.turn(tenant, { id: 'other', seq: 0 })).done([], () => undefined); // past both bounds
    const next = chains.turn(tenant, { id: 'busy', seq: 1 });
    await new Promise((resolve) => setTimeout(resolve, 60));
    busy.done([], () => undefined);
    (await next).done([], () => undefined);
    expect(chains.size).toBe(2); // past the bound while 'busy' was in use
    (await chains.turn(tenant, { id: 'third', seq: 0 })).done([], () => undefined);
    expect(chains.size).toBe(1); // back within it at the next new chain
  });

  it('refuses an unseenWaitMs that is not a number of milliseconds', () => {
    for (const unseenWaitMs of [Number.NaN, -1, Number.POSITIVE_INFINITY]) {
      expect(() => new PushChains({ waitMs: 1_000, unseenWaitMs, maxChains: 10 })).toThrow(
        expect.objectContaining({ code: 'invalid_input', details: { field: 'unseenWaitMs' } }),
      );
    }
  });

  it('carries the aggregates of conflict results to the later turns', async () => {
    const chains = new PushChains({ waitMs: 10_000, maxChains: 10 });
    const first = await chains.turn(tenant, { id: 'a', seq: 0 });
    first.done(
      [
        { id: 'e1', status: 'accepted', version: CursorVersion.of(3) },
        { id: 'e2', status: 'conflict', latest: CursorVersion.of(2), reason: 'x' },
      ],
      (index) => ['todo-1', 'todo-2'][index],
    );
    const second = await chains.turn(tenant, { id: 'a', seq: 1 });
    expect([...second.blocked].map(([aggregate, latest]) => [aggregate, latest.value])).toEqual([['todo-2', 2]]);
  });

  it('forgets a chain idle past its time, and the chain idle the longest past maxChains', async () => {
    const time = clock();
    const chains = new PushChains({ waitMs: 0, maxChains: 2, ttlMs: 1_000, now: time.now });
    (await chains.turn(tenant, { id: 'old', seq: 0 })).done([], () => undefined);
    time.advance(1_001);
    expect(chains.size).toBe(0);
    expect(await refusal(chains.turn(tenant, { id: 'old', seq: 1 }))).toBe('chain_unknown');

    for (const id of ['a', 'b', 'c']) (await chains.turn(tenant, { id, seq: 0 })).done([], () => undefined);
    expect(chains.size).toBe(2);
    expect(await refusal(chains.turn(tenant, { id: 'a', seq: 1 }))).toBe('chain_unknown');
    await chains.turn(tenant, { id: 'c', seq: 1 });
  });

  it("forgets a tenant's own oldest chain past maxChainsPerTenant, never another tenant's", async () => {
    const chains = new PushChains({ waitMs: 0, maxChains: 10, maxChainsPerTenant: 2 });
    (await chains.turn('globex', { id: 'other', seq: 0 })).done([], () => undefined);
    for (const id of ['a', 'b', 'c']) (await chains.turn(tenant, { id, seq: 0 })).done([], () => undefined);
    expect(chains.size).toBe(3);
    expect(await refusal(chains.turn(tenant, { id: 'a', seq: 1 }))).toBe('chain_unknown');
    await chains.turn(tenant, { id: 'b', seq: 1 });
    await chains.turn('globex', { id: 'other', seq: 1 });
  });

  it('breaks the chain when a turn fails, and refuses the next seq at once', async () => {
    const chains = new PushChains({ waitMs: 600_000, maxChains: 10 });
    const later = chains.turn(tenant, { id: 'a', seq: 1 });
    (await chains.turn(tenant, { id: 'a', seq: 0 })).fail();
    expect(await refusal(later)).toBe('chain_broken');
    chains.fail(tenant, { id: 'b', seq: 0 });
    expect(await refusal(chains.turn(tenant, { id: 'b', seq: 1 }))).toBe('chain_broken');
  });

  it('leaves a chain alone when a repeated request of the seq holding the turn fails', async () => {
    const chains = new PushChains({ waitMs: 600_000, maxChains: 10 });
    const held = await chains.turn(tenant, { id: 'a', seq: 0 });
    expect(await refusal(chains.turn(tenant, { id: 'a', seq: 0 }))).toBe('chain_broken');
    chains.fail(tenant, { id: 'a', seq: 0 });
    held.done([], () => undefined);
    (await chains.turn(tenant, { id: 'a', seq: 1 })).done([], () => undefined);
  });

  it('turns an abort reason that is not an Error into the cause of an aborted SyncError', async () => {
    const chains = new PushChains({ waitMs: 600_000, maxChains: 10 });
    const controller = new AbortController();
    const waiting = chains.turn(tenant, { id: 'a', seq: 1 }, controller.signal);
    await waitingPushes(() => chains.waiting, 1);
    controller.abort('Client connection prematurely closed.');
    const error = await waiting.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isSyncError(error, 'aborted')).toBe(true);
    expect((error as Error).cause).toBe('Client connection prematurely closed.');
  });

  it('rejects a waiting turn with the abort reason and stops waiting', async () => {
    const chains = new PushChains({ waitMs: 600_000, maxChains: 10 });
    const controller = new AbortController();
    const waiting = chains.turn(tenant, { id: 'a', seq: 1 }, controller.signal);
    await waitingPushes(() => chains.waiting, 1);
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(chains.waiting).toBe(0);
  });
});
