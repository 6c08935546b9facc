import {
  CursorVersion,
  isSyncError,
  SubscriptionLifecycle,
  SyncError,
  type AppendNotice,
  type AppendResult,
  type Event,
  type EventPage,
  type Filter,
  type LiveBatch,
  type PullOptions,
  type ServerEventLog,
  type SignalOptions,
  type SubscribeOptions,
  type Transport,
  type TransportSubscription,
  type VersionedEvent,
} from '@eventsync/core';
import { raceAbort, throwIfAborted } from '../clock/abort.js';
import type { Timers } from '../clock/timers.js';
import type { DelayRange, NetworkCounters, ResolvedFaults } from './memory-network.js';
import type { SeededRandom } from './seeded-random.js';

/** What a transport needs of its {@link MemoryNetwork}: internal, built by the network. */
export interface NetworkLink {
  readonly log: ServerEventLog;
  readonly tenant: string;
  readonly timers: Timers;
  readonly liveBatchLimit: number;
  faults(): ResolvedFaults;
  isPartitioned(): boolean;
  /** A generator for one named stream of draws of this transport. */
  random(stream: string): SeededRandom;
  count(counter: keyof NetworkCounters, amount?: number): void;
  closed(transport: MemoryTransport): void;
}

type Operation = 'push' | 'pull' | 'latestVersion';

/** A {@link Transport} of a `MemoryNetwork`; see there. */
export class MemoryTransport implements Transport {
  readonly clientId: string;
  readonly #link: NetworkLink;
  readonly #random: SeededRandom;
  readonly #closing = new AbortController();
  readonly #streams = new Set<LiveStream>();
  #streamCount = 0;

  constructor(clientId: string, link: NetworkLink) {
    this.clientId = clientId;
    this.#link = link;
    this.#random = link.random('requests');
  }

  async push(events: readonly Event[], options: SignalOptions = {}): Promise<AppendResult[]> {
    this.#enter(options.signal);
    if (!Array.isArray(events)) {
      throw new SyncError('invalid_input', 'push takes an array of events', { details: { field: 'events' } });
    }
    const sent = wireCopy(events, 'events') as Event[];
    const { log, tenant } = this.#link;
    return this.#request('push', options.signal, async () => {
      const results = await log.append(tenant, sent, { signal: options.signal });
      return results.map(copyResult);
    });
  }

  async pull(since: CursorVersion, options: PullOptions = {}): Promise<EventPage> {
    this.#enter(options.signal);
    if (!(since instanceof CursorVersion)) {
      throw new SyncError('invalid_input', 'since must be a CursorVersion', { details: { field: 'since' } });
    }
    const { log, tenant } = this.#link;
    const filter = options.filter === undefined ? undefined : (wireCopy(options.filter, 'filter') as Filter);
    return this.#request('pull', options.signal, async () =>
      copyPage(await log.read(tenant, { since, limit: options.limit, filter, signal: options.signal })),
    );
  }

  async latestVersion(options: SignalOptions = {}): Promise<CursorVersion> {
    this.#enter(options.signal);
    const { log, tenant } = this.#link;
    return this.#request('latestVersion', options.signal, async () =>
      CursorVersion.of((await log.latestVersion(tenant, { signal: options.signal })).value),
    );
  }

  subscribe(
    handler: (batch: LiveBatch) => void | Promise<void>,
    options: SubscribeOptions = {},
  ): TransportSubscription {
    this.#enter(options.signal);
    if (typeof handler !== 'function') {
      throw new SyncError('invalid_input', 'subscribe takes a handler function', { details: { field: 'handler' } });
    }
    if (options.since !== undefined && !(options.since instanceof CursorVersion)) {
      throw new SyncError('invalid_input', 'since must be a CursorVersion', { details: { field: 'since' } });
    }
    const stream = new LiveStream(this.#link, this.#link.random(`live#${this.#streamCount++}`), handler, options, () =>
      this.#streams.delete(stream),
    );
    this.#streams.add(stream);
    stream.start();
    return stream;
  }

  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new SyncError('closed', `The transport of ${this.clientId} was closed`));
    for (const stream of [...this.#streams]) stream.close();
    this.#link.closed(this);
  }

  /** Told by the network when this client is partitioned or healed. */
  partitionChanged(): void {
    for (const stream of [...this.#streams]) stream.partitionChanged();
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closing.signal.aborted) throw new SyncError('closed', `The transport of ${this.clientId} is closed`);
    throwIfAborted(signal);
  }

  /** One request through the faults: the server is `serve`. */
  async #request<T>(operation: Operation, signal: AbortSignal | undefined, serve: () => Promise<T>): Promise<T> {
    const link = this.#link;
    const faults = link.faults();
    // Every request draws the same number of values, whatever happens to it, so one request's fate
    // never shifts the faults of the next.
    const draw = {
      dropRequest: this.#random(),
      fail: this.#random(),
      duplicate: this.#random(),
      dropResponse: this.#random(),
      requestDelay: this.#random(),
      responseDelay: this.#random(),
    };
    link.count('requests');
    const signals = [signal, this.#closing.signal];
    const lost = (how: string): SyncError => {
      link.count('dropped');
      return new SyncError('network', `${operation} of ${this.clientId}: ${how}`);
    };

    await wait(link.timers, pick(faults.delay, draw.requestDelay), signals);
    if (link.isPartitioned()) throw lost('the client is partitioned from the server');
    if (draw.dropRequest < faults.dropRequest) throw lost('the request was lost on its way (injected fault)');
    if (draw.fail < faults.fail) {
      link.count('failed');
      throw new SyncError(
        'unavailable',
        `${operation} of ${this.clientId}: the server is unavailable (injected fault)`,
        {
          details: { status: 503 },
        },
      );
    }
    let answer = await serve();
    if (operation === 'push' && draw.duplicate < faults.duplicate) {
      link.count('duplicated');
      answer = await serve();
    }
    await wait(link.timers, pick(faults.delay, draw.responseDelay), signals);
    if (link.isPartitioned()) throw lost('the answer was lost: the client is partitioned from the server');
    if (draw.dropResponse < faults.dropResponse) throw lost('the answer was lost on its way back (injected fault)');
    throwIfAborted(...signals);
    return answer;
  }
}

/** One live subscription: reads the log after its cursor whenever the log says it grew. */
class LiveStream implements TransportSubscription {
  readonly #link: NetworkLink;
  readonly #random: SeededRandom;
  readonly #handler: (batch: LiveBatch) => void | Promise<void>;
  readonly #life: SubscriptionLifecycle;
  readonly #stopNotices: () => void;
  /** The resume point: the cursor after the last batch delivered (known once `#start` settles). */
  #cursor: CursorVersion | undefined;
  readonly #start: Promise<CursorVersion>;
  #connected = false;
  #connecting = false;
  #pumping = false;
  /** The log may hold events after the cursor that were not delivered yet. */
  #dirty = true;
  #reconnectTimer: unknown;
  #reconnectPending = false;

  constructor(
    link: NetworkLink,
    random: SeededRandom,
    handler: (batch: LiveBatch) => void | Promise<void>,
    options: SubscribeOptions,
    onClosed: () => void,
  ) {
    this.#link = link;
    this.#random = random;
    this.#handler = handler;
    this.#life = new SubscriptionLifecycle(options, () => {
      this.#connected = false;
      this.#cancelReconnect();
      this.#stopNotices();
      onClosed();
    });
    // Both read now, so that "the log's latest at subscribe time" is what it says.
    this.#stopNotices = link.log.subscribe((notice) => this.#noticed(notice));
    this.#start = options.since ? Promise.resolve(options.since) : link.log.latestVersion(link.tenant);
    this.#start.catch(() => undefined);
  }

  start(): void {
    this.#life.start(() => {
      if (this.#link.isPartitioned()) this.#drop(this.#partitionError());
      else void this.#connect();
    });
  }

  close(): void {
    this.#life.close();
  }

  partitionChanged(): void {
    if (this.#closed) return;
    if (this.#link.isPartitioned()) {
      if (this.#connected || this.#life.state === undefined) this.#drop(this.#partitionError());
    } else {
      this.#cancelReconnect();
      void this.#connect();
    }
  }

  get #closed(): boolean {
    return this.#life.closed;
  }

  #noticed(notice: AppendNotice): void {
    if (notice.tenant !== this.#link.tenant) return;
    this.#dirty = true;
    void this.#pump();
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#connected || this.#connecting || this.#link.isPartitioned()) return;
    this.#connecting = true;
    try {
      const start = await this.#start;
      this.#cursor ??= CursorVersion.of(start.value);
    } catch (error) {
      this.#life.close(asSyncError(error, 'Reading the latest version for a live subscription failed'));
      return;
    } finally {
      this.#connecting = false;
    }
    if (this.#closed || this.#connected || this.#link.isPartitioned()) return;
    this.#connected = true;
    this.#dirty = true;
    this.#life.setState('live');
    void this.#pump();
  }

  /** Delivers batches while there are some, one at a time; only one pump runs at once. */
  async #pump(): Promise<void> {
    if (this.#pumping || !this.#connected || this.#closed) return;
    this.#pumping = true;
    try {
      // Never run the handler inside the log's append.
      await Promise.resolve();
      while (this.#dirty && this.#connected && !this.#closed) {
        this.#dirty = false;
        const faults = this.#link.faults();
        const disconnect = this.#random();
        const delay = pick(faults.delay, this.#random());
        await wait(this.#link.timers, delay, [this.#life.signal]);
        const cursor = this.#cursor as CursorVersion;
        if (!this.#connected) break;
        const page = await this.#link.log.read(this.#link.tenant, { since: cursor, limit: this.#link.liveBatchLimit });
        // A drop (and maybe a reconnect) while reading: deliver nothing of a read from an older connection.
        if (!this.#connected || this.#closed || this.#cursor !== cursor) break;
        if (page.hasMore) this.#dirty = true;
        if (page.events.length === 0) continue;
        if (disconnect < faults.disconnect) {
          this.#drop(new SyncError('network', 'The live stream was dropped (injected fault)'));
          this.#scheduleReconnect(faults.reconnectDelay);
          break;
        }
        const batch: LiveBatch = { events: page.events.map(copyVersioned), cursor: CursorVersion.of(page.next.value) };
        this.#cursor = batch.cursor;
        this.#link.count('deliveredBatches');
        this.#link.count('deliveredEvents', batch.events.length);
        try {
          await this.#handler(batch);
        } catch (error) {
          this.#life.close(asSyncError(error, 'The live batch handler failed; the subscription was closed'));
          return;
        }
      }
    } catch (error) {
      if (this.#closed) return;
      if (isSyncError(error) && error.retryable) {
        this.#drop(error);
        this.#scheduleReconnect(this.#link.faults().reconnectDelay);
      } else {
        this.#life.close(asSyncError(error, 'Reading the log for a live subscription failed'));
      }
    } finally {
      this.#pumping = false;
    }
  }

  #drop(error: SyncError): void {
    if (this.#closed) return;
    if (this.#connected) this.#link.count('disconnects');
    this.#connected = false;
    this.#life.setState('connecting', error);
  }

  #scheduleReconnect(range: DelayRange): void {
    if (this.#closed || this.#reconnectPending) return;
    this.#reconnectPending = true;
    this.#reconnectTimer = this.#link.timers.setTimeout(
      () => {
        this.#reconnectPending = false;
        void this.#connect();
      },
      pick(range, this.#random()),
    );
  }

  #cancelReconnect(): void {
    if (!this.#reconnectPending) return;
    this.#reconnectPending = false;
    this.#link.timers.clearTimeout(this.#reconnectTimer);
  }

  #partitionError(): SyncError {
    return new SyncError('network', 'The client is partitioned from the server');
  }
}

/** Waits `ms` on `timers` (no timer at all for 0), or rejects when one of `signals` fires. */
function wait(timers: Timers, ms: number, signals: readonly (AbortSignal | undefined)[]): Promise<void> {
  throwIfAborted(...signals);
  if (ms <= 0) return Promise.resolve();
  let handle: unknown;
  const elapsed = new Promise<void>((resolve) => {
    handle = timers.setTimeout(resolve, ms);
  });
  return raceAbort(elapsed, signals, () => timers.clearTimeout(handle));
}

/** A whole number of milliseconds in `range`, from a draw in [0, 1). */
function pick(range: DelayRange, draw: number): number {
  return range.min + Math.floor(draw * (range.max - range.min + 1));
}

/** A copy of `value` as it would come out of JSON on the wire. */
function wireCopy(value: unknown, field: string): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch (error) {
    throw new SyncError('invalid_input', `${field} cannot be sent: it is not JSON`, {
      details: { field },
      cause: error,
    });
  }
}

function copyVersioned(item: VersionedEvent): VersionedEvent {
  return { event: wireCopy(item.event, 'event') as Event, version: CursorVersion.of(item.version.value) };
}

function copyPage(page: EventPage): EventPage {
  return { events: page.events.map(copyVersioned), next: CursorVersion.of(page.next.value), hasMore: page.hasMore };
}

function copyResult(result: AppendResult): AppendResult {
  switch (result.status) {
    case 'accepted':
    case 'duplicate':
      return { id: result.id, status: result.status, version: CursorVersion.of(result.version.value) };
    case 'conflict':
      return {
        id: result.id,
        status: 'conflict',
        latest: CursorVersion.of(result.latest.value),
        reason: result.reason,
      };
    case 'rejected':
      return { id: result.id, status: 'rejected', code: result.code, reason: result.reason };
  }
}

function asSyncError(error: unknown, message: string): SyncError {
  return isSyncError(error) ? error : new SyncError('internal', message, { cause: error });
}
