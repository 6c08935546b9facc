import { isSyncError, SyncError } from '../errors/sync-error.js';
import type { SubscriptionState, Transport, TransportSubscription } from '../transport/transport.js';
import type { CursorVersion } from '../version/cursor-version.js';
import { backoffDelay, type RetryOptions } from './backoff.js';
import type { Connectivity } from './connectivity.js';
import type { SyncResult } from './sync-types.js';

/** The clock and timers auto sync runs on; the globals fit, and so does the testkit's `FakeClock`. */
export interface SyncTimers {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `callback` once, `ms` milliseconds from now.
   *
   * @returns a handle for `clearTimeout`, of any type.
   */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels the timer whose handle `setTimeout` returned. */
  clearTimeout(handle: unknown): void;
}

/** When auto sync runs. */
export interface AutoSyncOptions {
  /**
   * The wait between syncs while the live subscription is up (a safety net: live batches and appends
   * trigger syncs sooner).
   *
   * @defaultValue 30000
   */
  readonly intervalMs?: number;
  /**
   * The wait between syncs while the live subscription is down (or `live` is off): polling.
   *
   * @defaultValue 5000
   */
  readonly pollIntervalMs?: number;
  /**
   * How long after an append to sync, so that a burst of appends goes in one push.
   *
   * @defaultValue 50
   */
  readonly debounceMs?: number;
  /**
   * Whether to follow the server's live batches through `transport.subscribe`.
   *
   * @defaultValue true
   */
  readonly live?: boolean;
}

/** The defaults of {@link AutoSyncOptions}. */
export const DEFAULT_AUTO_SYNC_OPTIONS: Required<AutoSyncOptions> = {
  intervalMs: 30_000,
  pollIntervalMs: 5_000,
  debounceMs: 50,
  live: true,
};

/** What {@link AutoSync} needs from its manager. */
export interface AutoSyncHost {
  readonly options: AutoSyncOptions;
  readonly retry: Required<RetryOptions>;
  readonly connectivity: Connectivity;
  readonly timers: SyncTimers;
  readonly random: () => number;
  readonly transport: Transport;
  sync(): Promise<SyncResult>;
  cursor(): Promise<CursorVersion>;
  onChange(change: { online?: boolean; live?: SubscriptionState; nextSyncAt?: number | undefined }): void;
}

/**
 * The scheduler behind `SyncManager.start()`: one timer for the next sync, moved earlier by appends,
 * live batches and coming online, later by backoff after retryable failures; the live subscription,
 * reopened with backoff when it closes.
 */
export class AutoSync {
  readonly #host: AutoSyncHost;
  readonly #options: Required<AutoSyncOptions>;
  #started = false;
  #online: boolean;
  #live: SubscriptionState = 'closed';
  #timer: unknown;
  #dueAt: number | undefined;
  #running = false;
  #again = false;
  #failures = 0;
  #subscription: TransportSubscription | undefined;
  #subscribeFailures = 0;
  #resubscribeTimer: unknown;
  #stopConnectivity: (() => void) | undefined;
  #generation = 0;

  constructor(host: AutoSyncHost) {
    this.#host = host;
    this.#options = { ...DEFAULT_AUTO_SYNC_OPTIONS, ...host.options };
    this.#online = host.connectivity.isOnline();
    for (const key of ['intervalMs', 'pollIntervalMs', 'debounceMs'] as const) {
      const value = this.#options[key];
      if (!(Number.isFinite(value) && value >= 0))
        throw new SyncError('invalid_input', `autoSync.${key} must be a non-negative number, got ${String(value)}`, {
          details: { field: `autoSync.${key}` },
        });
    }
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#generation++;
    this.#stopConnectivity = this.#host.connectivity.subscribe((online) => this.#connectivityChanged(online));
    this.#online = this.#host.connectivity.isOnline();
    this.#host.onChange({ online: this.#online });
    if (this.#options.live) this.#subscribe();
    this.#schedule(0);
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    this.#generation++;
    this.#clearTimer();
    if (this.#resubscribeTimer !== undefined) this.#host.timers.clearTimeout(this.#resubscribeTimer);
    this.#resubscribeTimer = undefined;
    this.#stopConnectivity?.();
    this.#stopConnectivity = undefined;
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#setLive('closed');
  }

  /** A local append: sync soon, once the burst is over. */
  appended(): void {
    if (this.#started) this.#schedule(this.#options.debounceMs, true);
  }

  #connectivityChanged(online: boolean): void {
    if (online === this.#online) return;
    this.#online = online;
    this.#host.onChange({ online });
    if (!this.#started) return;
    if (online) {
      this.#failures = 0;
      this.#schedule(0);
    } else {
      this.#clearTimer();
    }
  }

  // Moves the next sync to `delay` from now when that is sooner (or, for a debounce, later too).
  #schedule(delay: number, debounce = false): void {
    if (!this.#started || !this.#online) return;
    if (this.#running) {
      if (delay <= this.#options.debounceMs) this.#again = true;
      return;
    }
    const dueAt = this.#host.timers.now() + delay;
    if (this.#timer !== undefined && this.#dueAt !== undefined && !debounce && this.#dueAt <= dueAt) return;
    this.#clearTimer();
    this.#dueAt = dueAt;
    this.#timer = this.#host.timers.setTimeout(() => {
      this.#timer = undefined;
      this.#dueAt = undefined;
      this.#fire();
    }, delay);
    this.#host.onChange({ nextSyncAt: dueAt });
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#host.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#dueAt = undefined;
    this.#host.onChange({ nextSyncAt: undefined });
  }

  #fire(): void {
    if (!this.#started) return;
    const generation = this.#generation;
    this.#running = true;
    this.#again = false;
    this.#host.sync().then(
      () => {
        this.#failures = 0;
        this.#settle(generation, this.#regularDelay());
      },
      (error: unknown) => {
        if (isSyncError(error) && error.retryable) {
          this.#failures++;
          const retryAfter = error.details.retryAfterMs;
          this.#settle(generation, backoffDelay(this.#failures, this.#host.retry, this.#host.random, retryAfter ?? 0));
        } else {
          // A permanent failure: no fast retries; the regular cadence and the next trigger try again.
          this.#settle(generation, this.#regularDelay());
        }
      },
    );
  }

  #settle(generation: number, delay: number): void {
    this.#running = false;
    if (generation !== this.#generation) return;
    if (this.#again && this.#failures === 0) this.#schedule(0);
    else this.#schedule(delay);
    this.#again = false;
  }

  #regularDelay(): number {
    return this.#options.live && this.#live === 'live' ? this.#options.intervalMs : this.#options.pollIntervalMs;
  }

  #subscribe(): void {
    const generation = this.#generation;
    this.#setLive('connecting');
    this.#host.cursor().then(
      (since) => {
        if (generation !== this.#generation) return;
        try {
          this.#subscription = this.#host.transport.subscribe(() => this.#schedule(0), {
            since,
            onStateChange: (state) => {
              if (generation !== this.#generation) return;
              this.#setLive(state);
              if (state === 'live') this.#subscribeFailures = 0;
              if (state === 'closed') this.#resubscribe(generation);
              if (state === 'connecting' && this.#dueAt !== undefined) this.#schedule(this.#options.pollIntervalMs);
            },
          });
        } catch {
          this.#resubscribe(generation);
        }
      },
      () => this.#resubscribe(generation),
    );
  }

  #resubscribe(generation: number): void {
    if (generation !== this.#generation || !this.#started) return;
    this.#subscription?.close();
    this.#subscription = undefined;
    this.#setLive('closed');
    this.#subscribeFailures++;
    const delay = backoffDelay(this.#subscribeFailures, this.#host.retry, this.#host.random);
    this.#resubscribeTimer = this.#host.timers.setTimeout(() => {
      this.#resubscribeTimer = undefined;
      if (generation === this.#generation) this.#subscribe();
    }, delay);
  }

  #setLive(state: SubscriptionState): void {
    if (state === this.#live) return;
    this.#live = state;
    this.#host.onChange({ live: state });
  }
}
