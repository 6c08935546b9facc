import type { Client } from 'pg';
import { backoffDelay, type RetryOptions } from '@eventsync/core';
import { quoteIdentifier } from './schema.js';

/** The timers the listener waits on: the globals by default, a fake clock in tests. */
export interface ListenerTimers {
  /**
   * Calls `callback` once, `ms` milliseconds from now, and returns a handle for `clearTimeout`. When
   * the handle has an `unref()` method the listener calls it, so a waiting listener does not keep the
   * process alive.
   */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer of `setTimeout` that has not fired yet, given its handle. */
  clearTimeout(handle: unknown): void;
}

/** Where the listener is: connecting, listening, waiting to reconnect, or closed. */
export type ListenerState = 'connecting' | 'listening' | 'reconnecting' | 'closed';

export interface NotificationListenerOptions {
  /** Makes a new, unconnected client for the listener's own connection. */
  readonly client: () => Client;
  readonly channel: string;
  readonly reconnect: Required<RetryOptions>;
  /** Milliseconds between checks that the connection is alive (0: none). */
  readonly heartbeatMs: number;
  readonly timers: ListenerTimers;
  readonly onNotification: (payload: string) => void;
  /**
   * Called once the channel is listened to again after a lost connection: notifications sent in
   * between are gone, so whoever depends on them must catch up. When it throws, the connection is
   * dropped and made again, so the catch-up is retried.
   */
  readonly onReconnected: () => Promise<void>;
  /** Told when the connection is lost or a reconnection fails. */
  readonly onError: (error: unknown) => void;
  readonly onStateChange?: (state: ListenerState) => void;
}

/**
 * LISTENs to one channel on a dedicated connection of its own (a pooled connection would be handed
 * to others between queries, and lose the LISTEN). When the connection is lost it reconnects with
 * backoff, listens again, then calls `onReconnected` so that what was notified meanwhile is not lost.
 */
export class NotificationListener {
  readonly #options: NotificationListenerOptions;
  #client: Client | undefined;
  #timer: unknown;
  #attempt = 0;
  #state: ListenerState = 'connecting';
  #started = false;

  constructor(options: NotificationListenerOptions) {
    this.#options = options;
  }

  get state(): ListenerState {
    return this.#state;
  }

  /** Connects and listens for the first time; rejects when that fails (nothing is retried then). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      await this.#connect(false);
    } catch (error) {
      this.#started = false;
      throw error;
    }
  }

  /** Stops listening and closes the connection; idempotent. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#setState('closed');
    this.#clearTimer();
    const client = this.#client;
    this.#client = undefined;
    if (client) await endQuietly(client);
  }

  async #connect(reconnected: boolean): Promise<void> {
    this.#setState(reconnected ? 'reconnecting' : 'connecting');
    const client = this.#options.client();
    client.on('notification', (message) => {
      if (this.#client === client && message.channel === this.#options.channel) {
        this.#options.onNotification(message.payload ?? '');
      }
    });
    client.on('error', (error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('Connection ended')));
    let adopted = false;
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdentifier(this.#options.channel)}`);
      if (this.#state === 'closed') throw new Error('closed');
      this.#client = client;
      adopted = true;
      // Listening again before catching up: anything committed after this point is notified.
      if (reconnected) await this.#options.onReconnected();
    } catch (error) {
      if (adopted && this.#client !== client) return; // lost while catching up: #lost has taken over
      if (this.#client === client) this.#client = undefined;
      await endQuietly(client);
      throw error;
    }
    if (this.#client !== client) return; // lost or closed while catching up; #lost has taken over
    this.#attempt = 0;
    this.#setState('listening');
    this.#scheduleHeartbeat(client);
  }

  #lost(client: Client, error: unknown): void {
    if (this.#client !== client || this.#state === 'closed') return;
    this.#client = undefined;
    this.#clearTimer();
    void endQuietly(client);
    this.#options.onError(error);
    this.#scheduleReconnect();
  }

  #scheduleReconnect(): void {
    this.#setState('reconnecting');
    this.#attempt++;
    const delay = backoffDelay(this.#attempt, this.#options.reconnect, Math.random);
    this.#timer = this.#setTimer(() => {
      this.#connect(true).catch((error: unknown) => {
        if (this.#state === 'closed') return;
        this.#options.onError(error);
        this.#scheduleReconnect();
      });
    }, delay);
  }

  /** A connection can die silently (a cable, a firewall): a query now and then finds out. */
  #scheduleHeartbeat(client: Client): void {
    if (this.#options.heartbeatMs <= 0) return;
    this.#timer = this.#setTimer(() => {
      client.query('SELECT 1').then(
        () => {
          if (this.#client === client) this.#scheduleHeartbeat(client);
        },
        (error: unknown) => this.#lost(client, error),
      );
    }, this.#options.heartbeatMs);
  }

  #setTimer(callback: () => void, ms: number): unknown {
    const handle = this.#options.timers.setTimeout(() => {
      this.#timer = undefined;
      callback();
    }, ms);
    // A listener waiting to reconnect must not keep the process alive on its own.
    (handle as { unref?: () => void } | null)?.unref?.();
    return handle;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#options.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #setState(state: ListenerState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onStateChange?.(state);
  }
}

async function endQuietly(client: Client): Promise<void> {
  client.on('error', () => undefined); // a dying connection may still report errors
  await client.end().catch(() => undefined);
}
