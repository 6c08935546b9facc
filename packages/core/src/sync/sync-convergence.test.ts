import { FakeClock, MemoryNetwork, propertyOptions as seededProperties } from '@eventsync/testkit';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConflictResolver } from '../conflict/conflict.js';
import { fieldMerge } from '../conflict/field-merge.js';
import { lastWriteWins } from '../conflict/last-write-wins.js';
import { localWins } from '../conflict/local-wins.js';
import { remoteWins } from '../conflict/remote-wins.js';
import { sameEventContent } from '../event/canonical-json.js';
import type { Event, JsonValue, VersionedEvent } from '../event/event.js';
import { isSyncError, SyncError } from '../errors/sync-error.js';
import { MemoryServerEventLog } from '../server/memory-server-event-log.js';
import { MemoryEventStore } from '../store/memory-event-store.js';
import type { Transport } from '../transport/transport.js';
import { CursorVersion } from '../version/cursor-version.js';
import { alwaysOnline } from './connectivity.js';
import { SyncManager } from './sync-manager.js';
import { createWorld, keepLocal, keepRemote } from './test-support.js';

// The convergence property: 2 to 5 clients append on shared aggregates over a faulty network, go offline,
// race their syncs (and crash); once the network heals and everyone syncs until quiet, every replica
// holds the server's log and projection, no event is lost or doubled, every conflict has a recorded
// decision, and each client's events keep their order.
//
// EVENTSYNC_PROPERTY_RUNS=1000 runs more; EVENTSYNC_PROPERTY_SEED=<n> (with the `path` fast-check
// prints) replays a failure. Nothing waits on real time: the network's delays, the resolvers' thinking
// time and every timestamp run on a FakeClock.

const propertyOptions = seededProperties();
const TENANT = 'default';
const AGGREGATES = ['t1', 't2', 't3'] as const;
const FIELDS = ['title', 'done', 'note'] as const;
const MAX_FINAL_ROUNDS = 20;
/** The server refuses events past 1 KiB (`rejected`, `invalid_event`); the clients take 64 KiB. */
const SERVER_LIMITS = { maxEventBytes: 1024 };
/** The edit value that stands for a note too big for the server (kept short in printed counterexamples). */
const OVERSIZED = 'oversized';
/** The codes a sync may fail with here: injected faults, partitions, and crashes. Anything else is a bug. */
const EXPECTED_FAILURES = new Set(['network', 'unavailable', 'closed']);

// ---------------------------------------------------------------------------------------------------
// Scenarios

const RESOLVERS = {
  keepLocal: () => keepLocal,
  keepRemote: () => keepRemote,
  lastWriteWins: () => lastWriteWins(),
  fieldMerge: () => fieldMerge(),
  localWins: () => localWins(),
  remoteWins: () => remoteWins(),
} satisfies Record<string, () => ConflictResolver>;
type ResolverName = keyof typeof RESOLVERS;

interface Faults {
  readonly dropRequest: number;
  readonly dropResponse: number;
  readonly duplicate: number;
  readonly fail: number;
  readonly delay: number | { readonly min: number; readonly max: number };
  readonly disconnect: number;
}

interface Edit {
  readonly aggregate: string;
  readonly data: Record<string, JsonValue>;
}

type Step =
  /** `client` appends one or two edits in one call. */
  | { readonly kind: 'append'; readonly client: number; readonly edits: readonly Edit[] }
  /** `client` syncs; with `await: false` the sync runs on while the next steps do, so syncs race. */
  | { readonly kind: 'sync'; readonly client: number; readonly await: boolean }
  | { readonly kind: 'partition'; readonly client: number }
  | { readonly kind: 'heal'; readonly client: number }
  /**
   * `client` dies and restarts over the same store. With `ticks > 0` a sync is started first (or one
   * in flight is joined) and the manager is closed `ticks` microtask turns into it.
   */
  | { readonly kind: 'crash'; readonly client: number; readonly ticks: number }
  /** `client` dies right after the server handled its `nth` next push (or pull), before the answer. */
  | { readonly kind: 'crashAfter'; readonly client: number; readonly op: 'push' | 'pull'; readonly nth: number }
  /** The clock moves on: delayed requests land, thinking resolvers decide. */
  | { readonly kind: 'advance'; readonly ms: number };

interface Scenario {
  readonly clients: number;
  readonly resolver: ResolverName;
  /** Milliseconds the resolver takes to decide (resolvers may be async); appends may land meanwhile. */
  readonly resolverDelay: number;
  readonly networkSeed: number;
  readonly faults: Faults;
  readonly pushBatchSize: number;
  readonly pullPageSize: number;
  readonly maxRounds: number;
  /**
   * How many clients (the first ones) also run auto sync: live batches through `subscribe` (where the
   * `disconnect` fault bites), polling, debounced syncs after appends, backoff after failures.
   */
  readonly autoSyncClients: number;
  readonly steps: readonly Step[];
}

/** A probability in [0, 0.3], zero half the time, so that many runs sync well enough to race. */
const probability = fc.oneof(
  fc.constant(0),
  fc.integer({ min: 1, max: 30 }).map((n) => n / 100),
);

const faultsArb: fc.Arbitrary<Faults> = fc.record({
  dropRequest: probability,
  dropResponse: probability,
  duplicate: probability,
  fail: probability,
  delay: fc.oneof(
    { arbitrary: fc.constant(0), weight: 3 },
    { arbitrary: fc.integer({ min: 1, max: 3 }).map((max) => ({ min: 0, max })), weight: 2 },
  ),
  // Only live subscriptions feel it; none is open here, so it only proves it does no harm.
  disconnect: probability,
});

const editArb: fc.Arbitrary<Edit> = fc
  .tuple(
    fc.constantFrom(...AGGREGATES),
    fc.subarray([...FIELDS], { minLength: 1, maxLength: 2 }),
    fc.integer({ min: 0, max: 9 }),
  )
  .map(([aggregate, fields, n]) => ({
    aggregate,
    data: Object.fromEntries(
      fields.map((field): [string, JsonValue] => [
        field,
        field === 'done' ? n % 2 === 0 : field === 'note' && n === 9 ? OVERSIZED : `${field}-${n}`,
      ]),
    ),
  }));

function stepArb(clients: number, crashes: boolean): fc.Arbitrary<Step> {
  const client = fc.integer({ min: 0, max: clients - 1 });
  const steps: fc.WeightedArbitrary<Step>[] = [
    {
      weight: 6,
      arbitrary: fc
        .tuple(client, fc.array(editArb, { minLength: 1, maxLength: 2 }))
        .map(([c, edits]): Step => ({ kind: 'append', client: c, edits })),
    },
    {
      weight: 5,
      arbitrary: fc
        .tuple(client, fc.constantFrom(true, false, false))
        .map(([c, wait]): Step => ({ kind: 'sync', client: c, await: wait })),
    },
    { weight: 1, arbitrary: client.map((c): Step => ({ kind: 'partition', client: c })) },
    { weight: 2, arbitrary: client.map((c): Step => ({ kind: 'heal', client: c })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }).map((ms): Step => ({ kind: 'advance', ms })) },
  ];
  if (crashes) {
    steps.push(
      {
        weight: 1,
        arbitrary: fc
          .tuple(client, fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })))
          .map(([c, ticks]): Step => ({ kind: 'crash', client: c, ticks })),
      },
      {
        weight: 1,
        arbitrary: fc
          .tuple(client, fc.constantFrom('push' as const, 'pull' as const), fc.integer({ min: 1, max: 3 }))
          .map(([c, op, nth]): Step => ({ kind: 'crashAfter', client: c, op, nth })),
      },
    );
  }
  return fc.oneof(...steps);
}

function scenarioArb(crashes: boolean): fc.Arbitrary<Scenario> {
  return fc.integer({ min: 2, max: 5 }).chain((clients) =>
    fc.record({
      clients: fc.constant(clients),
      resolver: fc.constantFrom(...(Object.keys(RESOLVERS) as ResolverName[])),
      resolverDelay: fc.constantFrom(0, 1, 2, 3),
      networkSeed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      faults: faultsArb,
      pushBatchSize: fc.constantFrom(1, 2, 500),
      pullPageSize: fc.constantFrom(1, 3, 1000),
      maxRounds: fc.constantFrom(1, 2, 5),
      autoSyncClients: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: clients })),
      steps: fc.array(stepArb(clients, crashes), { minLength: 10, maxLength: 60 }),
    }),
  );
}

/** What the runs went through, summed over a property, so a generator that stops reaching the hard cases shows. */
class Coverage {
  readonly counts = new Map<string, number>();
  add(key: string, amount = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + amount);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// The world a scenario runs in

interface Client {
  readonly id: string;
  /** The durable storage: it outlives every manager built over it. */
  readonly store: MemoryEventStore;
  manager: SyncManager;
  transport: Transport;
  /** Set while the manager is dead (closing); the next step rebuilds it. */
  closing: Promise<void> | undefined;
  crashAfter: { op: 'push' | 'pull'; countdown: number } | undefined;
  /** Every event the application appended, in order. */
  readonly appended: Event[];
}

class World {
  readonly clock = new FakeClock();
  readonly log = new MemoryServerEventLog({ limits: SERVER_LIMITS });
  readonly network: MemoryNetwork;
  readonly clients: Client[] = [];
  readonly inFlight: Promise<void>[] = [];
  /** Sync failures that are not SyncErrors of the codes these faults cause. */
  readonly unexpected: unknown[] = [];
  readonly #scenario: Scenario;
  readonly #resolver: ConflictResolver;
  readonly #coverage: Coverage;
  /** `client/aggregate` while that client's resolver is deciding about that aggregate. */
  readonly #deciding = new Set<string>();
  #final = false;

  constructor(scenario: Scenario, coverage: Coverage) {
    this.#scenario = scenario;
    this.#coverage = coverage;
    const resolver = RESOLVERS[scenario.resolver]();
    this.#resolver = {
      resolve: async (conflict, context) => {
        const key = `${conflict.local[0]?.metadata.clientId ?? ''}/${conflict.aggregateId}`;
        this.#deciding.add(key);
        try {
          if (scenario.resolverDelay > 0) await this.clock.sleep(scenario.resolverDelay, context);
        } finally {
          this.#deciding.delete(key);
        }
        const decided = await resolver.resolve(conflict, context);
        if (!this.#final) coverage.add(`decision during the steps: ${decided.decision}`);
        return decided;
      },
    };
    this.network = new MemoryNetwork({
      log: this.log,
      tenant: TENANT,
      seed: scenario.networkSeed,
      clock: this.clock,
      faults: scenario.faults,
    });
    for (let i = 0; i < scenario.clients; i++) {
      const store = new MemoryEventStore({ now: this.clock.now });
      this.clients.push(this.#build({ id: `c${i}`, store, appended: [] }));
    }
  }

  /** A new manager and a new connection (a restarted process makes both) over the client's store. */
  #build(client: Omit<Client, 'manager' | 'transport' | 'closing' | 'crashAfter'> & Partial<Client>): Client {
    const transport = this.network.transport(client.id);
    const dying = wrap(transport, async (op, call) => {
      const answer = await call();
      const armed = client.crashAfter;
      // (`manager` is read when a request is made, after it was built.)
      if (client.manager === manager && armed?.op === op && --armed.countdown === 0) {
        // The server handled it; the client dies before it hears the answer.
        client.crashAfter = undefined;
        client.closing = manager.close();
        this.#coverage.add(`crash after the server handled a ${op}`);
        throw new SyncError('network', `${client.id} crashed after the server handled its ${op}`);
      }
      return answer;
    });
    const manager: SyncManager = new SyncManager({
      store: client.store,
      transport: dying,
      clientId: client.id,
      resolver: this.#resolver,
      connectivity: alwaysOnline,
      timers: this.clock,
      pushBatchSize: this.#scenario.pushBatchSize,
      pullPageSize: this.#scenario.pullPageSize,
      maxRounds: this.#scenario.maxRounds,
      autoSync: { live: true, intervalMs: 40, pollIntervalMs: 10, debounceMs: 2 },
      retry: { initialDelayMs: 2, maxDelayMs: 20 },
      random: () => 0.5,
    });
    // Auto sync's failures reach no caller: check them as they are reported.
    manager.on('sync.failed', ({ error }) => {
      if (!EXPECTED_FAILURES.has(error.code)) this.unexpected.push(error);
    });
    if (Number(client.id.slice(1)) < this.#scenario.autoSyncClients) manager.start();
    return Object.assign(client, { manager, transport, closing: undefined, crashAfter: undefined });
  }

  /** Rebuilds the client if it died. */
  async revive(client: Client): Promise<void> {
    if (client.closing === undefined) return;
    await this.drive(client.closing);
    await client.transport.close();
    this.#build(client);
  }

  /** Runs the clock until `promise` settles, so delayed requests land and resolvers decide. */
  async drive<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (let i = 0; !settled; i++) {
      if (i > 10_000) throw new Error('something hung: 10 s of clock time went by and it did not settle');
      await this.clock.advance(1);
    }
    return promise;
  }

  /** A sync; it may fail, but only with a SyncError of an expected code. */
  sync(client: Client): Promise<void> {
    return client.manager.sync().then(
      () => undefined,
      (error: unknown) => {
        this.#coverage.add(`sync failed: ${isSyncError(error) ? error.code : 'not a SyncError'}`);
        if (!isSyncError(error) || !EXPECTED_FAILURES.has(error.code)) this.unexpected.push(error);
      },
    );
  }

  async run(step: Step): Promise<void> {
    for (const client of this.clients) await this.revive(client);
    switch (step.kind) {
      case 'append': {
        const client = this.clients[step.client] as Client;
        if (step.edits.some((edit) => this.#deciding.has(`${client.id}/${edit.aggregate}`))) {
          this.#coverage.add('append while the resolver decides about its aggregate');
        }
        const inputs = step.edits.map((edit) => ({
          type: 'todo.edited',
          aggregateId: edit.aggregate,
          data: Object.fromEntries(
            Object.entries(edit.data).map(([field, value]) => [field, value === OVERSIZED ? 'x'.repeat(2000) : value]),
          ),
        }));
        let events: Event[];
        try {
          events = await client.manager.append(inputs);
        } catch (error) {
          // A sync of this client in flight crashed it meanwhile: restart, and append again.
          if (!isSyncError(error, 'closed') || client.closing === undefined) throw error;
          await this.revive(client);
          events = await client.manager.append(inputs);
        }
        client.appended.push(...events);
        return;
      }
      case 'sync': {
        const syncing = this.sync(this.clients[step.client] as Client);
        if (step.await) await this.drive(syncing);
        else this.inFlight.push(syncing);
        return;
      }
      case 'partition':
        this.network.partition(`c${step.client}`);
        return;
      case 'heal':
        this.network.heal(`c${step.client}`);
        return;
      case 'crash': {
        const client = this.clients[step.client] as Client;
        if (step.ticks > 0) {
          this.inFlight.push(this.sync(client));
          for (let i = 0; i < step.ticks; i++) await Promise.resolve();
        }
        if (client.manager.status.syncing) this.#coverage.add('crash during a sync');
        client.closing ??= client.manager.close();
        await this.revive(client);
        return;
      }
      case 'crashAfter':
        (this.clients[step.client] as Client).crashAfter = { op: step.op, countdown: step.nth };
        return;
      case 'advance':
        await this.clock.advance(step.ms);
        return;
    }
  }

  /** Heals everything, lets the syncs in flight end, then syncs every client until a round changes nothing. */
  async settle(): Promise<void> {
    this.#final = true;
    for (const client of this.clients) if (client.closing === undefined) client.manager.stop();
    this.network.heal();
    for (const client of this.clients) client.crashAfter = undefined;
    await this.drive(Promise.all(this.inFlight));
    for (const client of this.clients) {
      await this.revive(client);
      client.manager.stop();
      // An auto sync still running started under the faults: this joins it and lets it end.
      await this.drive(this.sync(client));
    }
    for (let round = 1; round <= MAX_FINAL_ROUNDS; round++) {
      let changed = false;
      for (const client of this.clients) {
        const result = await this.drive(client.manager.sync());
        const { pushed, pulled, acknowledged, conflicts, resolved, parked, rejected } = result;
        if (pushed + pulled + acknowledged + conflicts + resolved + parked + rejected > 0 || !result.settled) {
          changed = true;
        }
      }
      const pending = await Promise.all(this.clients.map((client) => client.store.pendingCount()));
      if (!changed && pending.every((count) => count === 0)) return;
    }
    throw new Error(`the clients did not go quiet within ${MAX_FINAL_ROUNDS} rounds of syncs`);
  }

  async close(): Promise<void> {
    for (const client of this.clients) await (client.closing ?? client.manager.close());
    await this.network.close();
    await this.log.close();
  }
}

type Operation = 'push' | 'pull';

/** A transport whose push and pull go through `around`. */
function wrap(transport: Transport, around: <T>(op: Operation, call: () => Promise<T>) => Promise<T>): Transport {
  return {
    push: (events, options) => around('push', () => transport.push(events, options)),
    pull: (since, options) => around('pull', () => transport.pull(since, options)),
    latestVersion: (options) => transport.latestVersion(options),
    subscribe: (handler, options) => transport.subscribe(handler, options),
    close: () => transport.close(),
  };
}

// ---------------------------------------------------------------------------------------------------
// What must hold once the clients went quiet

/** Aggregate → its fields, the latest event winning per field: the test's projection. */
function project(log: readonly VersionedEvent[]): Map<string, Record<string, JsonValue>> {
  const state = new Map<string, Record<string, JsonValue>>();
  for (const { event } of log) {
    state.set(event.aggregateId, { ...state.get(event.aggregateId), ...(event.data as Record<string, JsonValue>) });
  }
  return state;
}

const idAndVersion = (item: VersionedEvent): string => `${item.event.id}@${item.version.toString()}`;

async function checkConverged(world: World, coverage: Coverage): Promise<void> {
  expect(world.unexpected, 'sync failures that are not the expected SyncErrors').toEqual([]);
  const server = (await world.log.read(TENANT, { limit: 1_000_000 })).events;
  const position = new Map(server.map((item, index) => [item.event.id, index]));

  // The server log: no event twice, versions 1..n.
  expect(position.size, 'distinct ids in the server log').toBe(server.length);
  expect(server.map((item) => item.version.value)).toEqual(server.map((_, index) => index + 1));

  const projection = project(server);
  for (const client of world.clients) {
    const { store, manager } = client;

    // The server's log, in order, at the same versions, with the same content; nothing pending.
    const local = await store.load(CursorVersion.ZERO);
    expect(local.map(idAndVersion), `${client.id}'s log`).toEqual(server.map(idAndVersion));
    for (const [index, item] of local.entries()) {
      expect(
        sameEventContent(item.event, (server[index] as VersionedEvent).event),
        `${client.id}'s event ${index}`,
      ).toBe(true);
    }
    expect(await store.pendingCount(), `${client.id}'s outbox`).toBe(0);
    expect((await store.cursor()).value, `${client.id}'s cursor`).toBe(server.length);

    // The same projection.
    expect(project(local), `${client.id}'s projection`).toEqual(projection);

    // Every conflict decided, the decision and its reasons on record.
    const records = await store.conflicts();
    for (const record of records) {
      expect(record.status, `conflict ${record.id} of ${client.id}`).toBe('resolved');
      expect(record.resolution?.decision).toEqual(expect.any(String));
      expect(record.resolution?.decision).not.toBe('park');
      expect(record.resolution?.reasons.length, `reasons of conflict ${record.id}`).toBeGreaterThan(0);
    }

    // No event lost: each of the client's events (appended, or made by a resolver) is in the server log
    // at the version the client knows, or was rejected, or was resolved away by a recorded decision.
    const made = records.flatMap((record) => record.resolution?.resolvedEvents ?? []);
    const own = new Map([...client.appended, ...made].map((event) => [event.id, event]));
    for (const id of own.keys()) {
      const state = await manager.eventState(id);
      const at = position.get(id);
      if (at !== undefined) {
        expect(state, `event ${id} of ${client.id}`).toEqual({
          status: 'acknowledged',
          version: (server[at] as VersionedEvent).version,
        });
        continue;
      }
      expect(['resolved', 'rejected'], `event ${id} of ${client.id}, not on the server`).toContain(state.status);
      coverage.add(`event ${state.status}`);
      if (state.status === 'rejected') {
        // Only what the server refuses: the oversized notes.
        expect(state.code).toBe('invalid_event');
        expect(JSON.stringify(own.get(id)?.data).length).toBeGreaterThan(SERVER_LIMITS.maxEventBytes);
      }
      if (state.status !== 'resolved') continue;
      const record = records.find((item) => item.id === state.conflictId);
      expect(record?.status, `the record resolving ${id}`).toBe('resolved');
      expect(record?.resolution?.reasons.length).toBeGreaterThan(0);
      // Resolved away: the decision did not keep it (a kept event would have to be on the server).
      expect(record?.resolution?.resolvedEvents.map((event) => event.id)).not.toContain(id);
    }
    // …and the server holds no event of this client that it never made.
    const strangers = server.filter((item) => item.event.metadata.clientId === client.id && !own.has(item.event.id));
    expect(
      strangers.map((item) => item.event.id),
      `events of ${client.id} it never made`,
    ).toEqual([]);

    // One client's events keep their order: per aggregate, its appended events that reached the server
    // (rebased with the same id, or untouched) stand there in the order they were appended.
    for (const aggregate of AGGREGATES) {
      const landed = client.appended
        .filter((event) => event.aggregateId === aggregate && position.has(event.id))
        .map((event) => position.get(event.id) as number);
      expect(landed, `positions of ${client.id}'s events on ${aggregate}`).toEqual([...landed].sort((a, b) => a - b));
    }
  }
}

async function runScenario(scenario: Scenario, coverage: Coverage): Promise<void> {
  const world = new World(scenario, coverage);
  try {
    for (const step of scenario.steps) await world.run(step);
    await world.settle();
    await checkConverged(world, coverage);
    coverage.add('live batches delivered', world.network.stats.deliveredBatches);
    coverage.add('live streams dropped', world.network.stats.disconnects);
  } finally {
    await world.close();
  }
}

/** Time for the property: generous, it takes about 10 ms a run. */
const timeout = Math.max(60_000, propertyOptions.numRuns * 300);
/** Whether enough runs were made to expect every hard case to have come up. */
const expectCoverage = propertyOptions.numRuns >= 100;

describe('SyncManager convergence', () => {
  it(
    'converges over drops, duplicates, delays, reorders, failures and partitions',
    async () => {
      const coverage = new Coverage();
      await fc.assert(
        fc.asyncProperty(scenarioArb(false), (scenario) => runScenario(scenario, coverage)),
        propertyOptions,
      );
      if (expectCoverage) {
        for (const key of [
          'decision during the steps: keep_local',
          'decision during the steps: keep_remote',
          'decision during the steps: merge',
          'sync failed: network',
          'sync failed: unavailable',
          'event rejected',
          'event resolved',
          'live batches delivered',
          'live streams dropped',
          'append while the resolver decides about its aggregate',
        ]) {
          expect(coverage.get(key), key).toBeGreaterThan(0);
        }
      }
    },
    timeout,
  );

  it(
    'converges when clients also crash at random points, in a sync or right after the server handled a request',
    async () => {
      const coverage = new Coverage();
      await fc.assert(
        fc.asyncProperty(scenarioArb(true), (scenario) => runScenario(scenario, coverage)),
        propertyOptions,
      );
      if (expectCoverage) {
        for (const key of [
          'crash during a sync',
          'crash after the server handled a push',
          'crash after the server handled a pull',
          'decision during the steps: keep_local',
          'decision during the steps: keep_remote',
        ]) {
          expect(coverage.get(key), key).toBeGreaterThan(0);
        }
      }
    },
    timeout,
  );

  // Found by the property (seed 20261124): an append landing while the resolver decided went ahead of
  // the rebased events, so the server ordered the client's later edit before its earlier one.
  it("keeps a client's order when it appends to an aggregate while a conflict on it is being decided", async () => {
    const world = createWorld();
    try {
      let decide!: () => void;
      const decided = new Promise<void>((resolve) => (decide = resolve));
      let deciding!: () => void;
      const started = new Promise<void>((resolve) => (deciding = resolve));
      const a = world.client('a');
      const b = world.client('b', {
        resolver: {
          resolve: async (conflict, context) => {
            deciding();
            await decided;
            return keepLocal.resolve(conflict, context);
          },
        },
      });
      const [first] = await b.manager.append({ type: 'todo.edited', aggregateId: 't1', data: { title: 'b1' } });
      await a.manager.append({ type: 'todo.edited', aggregateId: 't1', data: { title: 'a1' } });
      await a.manager.sync();
      const syncing = b.manager.sync();
      await started;
      const [second] = await b.manager.append({ type: 'todo.edited', aggregateId: 't1', data: { title: 'b2' } });
      decide();
      await syncing;
      await b.manager.sync();
      const ids = (await world.log.read(TENANT)).events.map((item) => item.event.id);
      expect(ids).toHaveLength(3);
      expect(ids.slice(1)).toEqual([first?.id, second?.id]);
    } finally {
      await world.close();
    }
  });
});
