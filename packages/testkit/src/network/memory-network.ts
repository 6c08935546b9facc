import { MemoryServerEventLog, SyncError, type ServerEventLog, type Transport } from '@eventsync/core';
import type { Timers } from '../clock/timers.js';
import { MemoryTransport, type NetworkLink } from './memory-transport.js';
import { seededRandom } from './seeded-random.js';

/** A span of milliseconds, drawn uniformly (whole milliseconds) between `min` and `max` inclusive. */
export interface DelayRange {
  /** The shortest delay, in whole milliseconds, 0 or more. */
  readonly min: number;
  /** The longest delay, in whole milliseconds, at least `min`. */
  readonly max: number;
}

/**
 * The faults a {@link MemoryNetwork} injects. Probabilities are drawn independently per request (or
 * per live batch) from the network's seeded generator. Faults only ever produce errors, latency and
 * lost connections: results still come per event and in order, live batches in order and none twice.
 */
export interface FaultOptions {
  /**
   * The chance a request is lost on its way: it never reaches the server, and the call rejects with
   * a retryable `SyncError('network')`.
   *
   * @defaultValue 0
   */
  readonly dropRequest?: number;
  /**
   * The chance an answer is lost on its way back: the server DID handle the request (a push is
   * stored) but the call rejects with `SyncError('network')`, the classic lost acknowledgement.
   *
   * @defaultValue 0
   */
  readonly dropResponse?: number;
  /**
   * The chance a push reaches the server twice (as when a proxy retries it); the client gets the
   * second answer, so the events it stored say `duplicate`.
   *
   * @defaultValue 0
   */
  readonly duplicate?: number;
  /**
   * The chance the server answers `SyncError('unavailable')` (a 503) without handling the request.
   *
   * @defaultValue 0
   */
  readonly fail?: number;
  /**
   * Latency before a request reaches the server, and again before its answer comes back, and before
   * each live batch. Random delays make concurrent requests of different clients complete in shuffled
   * order: the network's model of reordering (one transport's live batches stay in order). Waited on
   * the network's `clock`; 0 waits for no timer at all.
   *
   * @defaultValue 0
   */
  readonly delay?: number | DelayRange;
  /**
   * The chance a live stream drops just before delivering a batch: the subscription turns
   * `'connecting'` (so the client should pull), reconnects after `reconnectDelay` and resumes from its
   * cursor.
   *
   * @defaultValue 0
   */
  readonly disconnect?: number;
  /**
   * How long a dropped live stream waits before reconnecting, on the network's `clock` (always
   * through a timer, even for 0, so that a stream dropping on every batch cannot starve the process).
   *
   * @defaultValue 0
   */
  readonly reconnectDelay?: number | DelayRange;
}

/** {@link FaultOptions} with every default filled in and delays as ranges. */
export interface ResolvedFaults {
  /** The chance, from 0 to 1, a request is lost on its way; see {@link FaultOptions.dropRequest}. */
  readonly dropRequest: number;
  /** The chance, from 0 to 1, an answer is lost on its way back; see {@link FaultOptions.dropResponse}. */
  readonly dropResponse: number;
  /** The chance, from 0 to 1, a push reaches the server twice; see {@link FaultOptions.duplicate}. */
  readonly duplicate: number;
  /** The chance, from 0 to 1, the server answers `unavailable`; see {@link FaultOptions.fail}. */
  readonly fail: number;
  /** The latency each way and before each live batch, as a range; see {@link FaultOptions.delay}. */
  readonly delay: DelayRange;
  /** The chance, from 0 to 1, a live stream drops before a batch; see {@link FaultOptions.disconnect}. */
  readonly disconnect: number;
  /** The wait before a dropped live stream reconnects, as a range; see {@link FaultOptions.reconnectDelay}. */
  readonly reconnectDelay: DelayRange;
}

/** No faults: a perfect, instant network. */
export const DEFAULT_FAULT_OPTIONS: ResolvedFaults = {
  dropRequest: 0,
  dropResponse: 0,
  duplicate: 0,
  fail: 0,
  delay: { min: 0, max: 0 },
  disconnect: 0,
  reconnectDelay: { min: 0, max: 0 },
};

/** Options of {@link MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /**
   * The server's log. The network never closes it.
   *
   * @defaultValue a new `MemoryServerEventLog`
   */
  readonly log?: ServerEventLog;
  /**
   * The tenant every transport reads and writes.
   *
   * @defaultValue `'default'`
   */
  readonly tenant?: string;
  /**
   * Seeds the fault generator: the same seed, faults and calls give the same run. Each transport and
   * each live stream draws from its own stream of this seed (named by client id and creation order),
   * so one client's faults do not depend on how its calls interleave with other clients'.
   *
   * @defaultValue 0
   */
  readonly seed?: number;
  /**
   * The faults to inject; see {@link FaultOptions}. Change them later with {@link MemoryNetwork.setFaults}.
   *
   * @defaultValue none
   */
  readonly faults?: FaultOptions;
  /**
   * The timers delays and reconnects wait on: pass a `FakeClock` to drive them from the test.
   *
   * @defaultValue the global `setTimeout` and `clearTimeout`
   */
  readonly clock?: Timers;
  /**
   * The most events in one live batch.
   *
   * @defaultValue 1000
   */
  readonly liveBatchLimit?: number;
}

/** What the network counted, overall or for one client. */
export interface NetworkCounters {
  /** Requests made (push, pull, latestVersion), whatever became of them. */
  readonly requests: number;
  /** Requests or answers lost: `dropRequest`, `dropResponse`, and calls of a partitioned client. */
  readonly dropped: number;
  /** Requests answered `unavailable` by the `fail` fault. */
  readonly failed: number;
  /** Pushes delivered to the server twice. */
  readonly duplicated: number;
  /** Live streams dropped, by the `disconnect` fault or by a partition. */
  readonly disconnects: number;
  /** Live batches delivered to handlers. */
  readonly deliveredBatches: number;
  /** Events in those batches. */
  readonly deliveredEvents: number;
}

/** {@link MemoryNetwork.stats}: the totals, and the counters of each client id. */
export interface NetworkStats extends NetworkCounters {
  /** The counters per client id; a client appears once something was counted for it. */
  readonly clients: Readonly<Record<string, NetworkCounters>>;
}

type MutableCounters = { -readonly [K in keyof NetworkCounters]: NetworkCounters[K] };

const realTimers: Timers = {
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
};

/**
 * An in-memory network: a server log plus a {@link Transport} for each client, with seeded fault
 * injection (lost requests and answers, duplicated pushes, 503s, latency, dropped live streams) and
 * partitions. Events cross it as JSON, as on the wire, so no client shares objects with the server.
 *
 * @example
 * ```ts
 * const clock = new FakeClock();
 * const network = new MemoryNetwork({ seed: 42, clock, faults: { dropResponse: 0.2, delay: { min: 5, max: 50 } } });
 * const phone = network.transport('phone');
 * network.partition('phone'); // phone's calls fail with SyncError('network'), its stream is 'connecting'
 * network.heal(); // back, faults cleared; the stream resumes from its cursor
 * ```
 */
export class MemoryNetwork {
  /** The server's log. */
  readonly log: ServerEventLog;
  /** The tenant every transport reads and writes. */
  readonly tenant: string;
  readonly #seed: number;
  readonly #timers: Timers;
  readonly #liveBatchLimit: number;
  #faults: ResolvedFaults;
  readonly #partitioned = new Set<string>();
  readonly #transports = new Set<MemoryTransport>();
  readonly #transportCounts = new Map<string, number>();
  readonly #total: MutableCounters = emptyCounters();
  readonly #clients = new Map<string, MutableCounters>();

  /** @throws SyncError `invalid_input` for a bad tenant, seed, fault or limit. */
  constructor(options: MemoryNetworkOptions = {}) {
    this.log = options.log ?? new MemoryServerEventLog();
    this.tenant = options.tenant ?? 'default';
    if (typeof this.tenant !== 'string' || this.tenant.length === 0) {
      throw new SyncError('invalid_input', 'tenant must be a non-empty string', { details: { field: 'tenant' } });
    }
    this.#seed = options.seed ?? 0;
    if (!Number.isFinite(this.#seed)) {
      throw new SyncError('invalid_input', `seed must be a finite number, got ${String(this.#seed)}`, {
        details: { field: 'seed' },
      });
    }
    this.#liveBatchLimit = options.liveBatchLimit ?? 1000;
    if (!Number.isSafeInteger(this.#liveBatchLimit) || this.#liveBatchLimit < 1) {
      throw new SyncError(
        'invalid_input',
        `liveBatchLimit must be a positive integer, got ${String(this.#liveBatchLimit)}`,
        {
          details: { field: 'liveBatchLimit' },
        },
      );
    }
    this.#timers = options.clock ?? realTimers;
    this.#faults = resolveFaults(options.faults ?? {});
  }

  /** The faults in force, defaults filled in. */
  get faults(): ResolvedFaults {
    return this.#faults;
  }

  /**
   * A new transport for `clientId`, talking to {@link MemoryNetwork.log} for {@link MemoryNetwork.tenant}.
   * Several transports may share a client id (tabs of one device); partitions and counters go by
   * client id.
   *
   * @throws SyncError `invalid_input` for an empty client id.
   */
  transport(clientId: string): Transport {
    checkClientId(clientId);
    const index = this.#transportCounts.get(clientId) ?? 0;
    this.#transportCounts.set(clientId, index + 1);
    const link: NetworkLink = {
      log: this.log,
      tenant: this.tenant,
      timers: this.#timers,
      liveBatchLimit: this.#liveBatchLimit,
      faults: () => this.#faults,
      isPartitioned: () => this.#partitioned.has(clientId),
      random: (stream) => seededRandom(this.#seed, clientId, `transport#${index}`, stream),
      count: (counter, amount = 1) => {
        this.#total[counter] += amount;
        let counters = this.#clients.get(clientId);
        if (!counters) this.#clients.set(clientId, (counters = emptyCounters()));
        counters[counter] += amount;
      },
      closed: (transport) => this.#transports.delete(transport),
    };
    const transport = new MemoryTransport(clientId, link);
    this.#transports.add(transport);
    return transport;
  }

  /**
   * Cuts `clientId` off: its calls fail with a retryable `SyncError('network')` (a call in flight
   * loses its answer), and its live streams turn `'connecting'` until {@link MemoryNetwork.heal}.
   */
  partition(clientId: string): void {
    checkClientId(clientId);
    if (this.#partitioned.has(clientId)) return;
    this.#partitioned.add(clientId);
    for (const transport of this.#transports) if (transport.clientId === clientId) transport.partitionChanged();
  }

  /**
   * Ends the partition of `clientId`; without an argument, ends every partition and clears every
   * fault. Live streams of healed clients reconnect and deliver what they missed, in order.
   */
  heal(clientId?: string): void {
    if (clientId === undefined) {
      this.#faults = DEFAULT_FAULT_OPTIONS;
      this.#partitioned.clear();
      // Every stream, so that one waiting to reconnect after a dropped-stream fault reconnects now.
      for (const transport of this.#transports) transport.partitionChanged();
      return;
    }
    if (!this.#partitioned.delete(clientId)) return;
    for (const transport of this.#transports) if (transport.clientId === clientId) transport.partitionChanged();
  }

  /** Whether `clientId` is partitioned. */
  isPartitioned(clientId: string): boolean {
    return this.#partitioned.has(clientId);
  }

  /**
   * Replaces the faults in force (not merged with the old ones); calls already under way keep the
   * faults they started with.
   *
   * @throws SyncError `invalid_input` for a probability outside [0, 1] or a bad delay.
   */
  setFaults(faults: FaultOptions): void {
    this.#faults = resolveFaults(faults);
  }

  /** A snapshot of the counters, overall and per client id. */
  get stats(): NetworkStats {
    const clients: Record<string, NetworkCounters> = {};
    for (const [clientId, counters] of this.#clients) clients[clientId] = { ...counters };
    return { ...this.#total, clients };
  }

  /** Closes every transport of the network (not the log). Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.#transports].map((transport) => transport.close()));
  }
}

function emptyCounters(): MutableCounters {
  return { requests: 0, dropped: 0, failed: 0, duplicated: 0, disconnects: 0, deliveredBatches: 0, deliveredEvents: 0 };
}

function checkClientId(clientId: unknown): asserts clientId is string {
  if (typeof clientId !== 'string' || clientId.length === 0) {
    throw new SyncError('invalid_input', 'A client id is a non-empty string', { details: { field: 'clientId' } });
  }
}

function resolveFaults(faults: FaultOptions): ResolvedFaults {
  if (typeof faults !== 'object' || faults === null) {
    throw new SyncError('invalid_input', 'faults must be an object', { details: { field: 'faults' } });
  }
  const defaults = DEFAULT_FAULT_OPTIONS;
  return {
    dropRequest: probability(faults.dropRequest ?? defaults.dropRequest, 'dropRequest'),
    dropResponse: probability(faults.dropResponse ?? defaults.dropResponse, 'dropResponse'),
    duplicate: probability(faults.duplicate ?? defaults.duplicate, 'duplicate'),
    fail: probability(faults.fail ?? defaults.fail, 'fail'),
    delay: delayRange(faults.delay ?? defaults.delay, 'delay'),
    disconnect: probability(faults.disconnect ?? defaults.disconnect, 'disconnect'),
    reconnectDelay: delayRange(faults.reconnectDelay ?? defaults.reconnectDelay, 'reconnectDelay'),
  };
}

function probability(value: number, field: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new SyncError('invalid_input', `faults.${field} is a probability between 0 and 1, got ${String(value)}`, {
      details: { field: `faults.${field}` },
    });
  }
  return value;
}

function delayRange(value: number | DelayRange, field: string): DelayRange {
  const range = typeof value === 'number' ? { min: value, max: value } : value;
  const valid =
    typeof range === 'object' &&
    range !== null &&
    Number.isSafeInteger(range.min) &&
    Number.isSafeInteger(range.max) &&
    range.min >= 0 &&
    range.min <= range.max;
  if (!valid) {
    throw new SyncError('invalid_input', `faults.${field} is whole milliseconds or { min, max } with 0 <= min <= max`, {
      details: { field: `faults.${field}` },
    });
  }
  return { min: range.min, max: range.max };
}
