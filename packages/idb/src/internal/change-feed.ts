import type { StoreChange } from '../store-change.js';

type Listener = (change: StoreChange) => void;

/** What travels on the channel: a change without its origin. */
type ChangeMessage = Omit<StoreChange, 'origin'>;

/** Options of {@link ChangeFeed}. */
export interface ChangeFeedOptions {
  /** The channel's name: one per database. */
  readonly channelName: string;
  /** The `BroadcastChannel` constructor; `null` where there is none (then the feed polls). */
  readonly BroadcastChannel: typeof BroadcastChannel | null;
  /** How often to poll without a channel, in milliseconds; 0 never polls. */
  readonly pollIntervalMs: number;
  /** Reads the database's change counter, for polling. */
  readonly readChangeSeq: () => Promise<number>;
  /** The change counter when the store opened: changes after it are news. */
  readonly initialSeq: number;
  /** Told about errors of the poll (the store may have been closed meanwhile). */
  readonly onPollError?: (error: unknown) => void;
}

/**
 * Tells listeners of committed changes: this store's own at once, other tabs' through a
 * `BroadcastChannel` named after the database, or, where there is none, by polling the database's
 * change counter while anyone listens.
 */
export class ChangeFeed {
  readonly #options: ChangeFeedOptions;
  readonly #listeners = new Set<Listener>();
  readonly #channel: BroadcastChannel | undefined;
  /** The change counter as this store last saw it; another value means someone else wrote. */
  #seenSeq: number;
  #timer: ReturnType<typeof setInterval> | undefined;
  #polling = false;
  #closed = false;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
    this.#seenSeq = options.initialSeq;
    const Channel = options.BroadcastChannel;
    if (Channel) {
      this.#channel = new Channel(options.channelName);
      this.#channel.onmessage = (message: MessageEvent<ChangeMessage>) => {
        const { outbox, log, records } = message.data;
        this.#emit({ origin: 'remote', outbox: outbox === true, log: log === true, records: records === true });
      };
      // Node's channels keep the process alive; a store must not.
      (this.#channel as { unref?: () => void }).unref?.();
    }
  }

  /** Whether other tabs hear of changes without polling. */
  get broadcasts(): boolean {
    return this.#channel !== undefined;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: Listener): () => void {
    if (this.#closed) return () => {};
    this.#listeners.add(listener);
    this.#startPolling();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopPolling();
    };
  }

  /**
   * Reports a change this store committed. `seqBefore` is the change counter the transaction read,
   * `seqAfter` the one it wrote: a gap means another writer came in between.
   */
  published(change: ChangeMessage, seqBefore: number, seqAfter: number): void {
    if (this.#closed) return;
    // The counter only grows: a value past the one last seen is someone else's write.
    if (!this.#channel && seqBefore > this.#seenSeq) this.#emitUnknownRemote();
    this.#seenSeq = Math.max(this.#seenSeq, seqAfter);
    this.#emit({ origin: 'local', ...change });
    this.#channel?.postMessage(change);
  }

  close(): void {
    this.#closed = true;
    this.#stopPolling();
    this.#listeners.clear();
    this.#channel?.close();
  }

  #emit(change: StoreChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change);
      } catch (error) {
        // A listener's failure is its own; the others still hear of the change.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #emitUnknownRemote(): void {
    this.#emit({ origin: 'remote', outbox: true, log: true, records: true });
  }

  #startPolling(): void {
    if (this.#channel || this.#timer !== undefined || this.#options.pollIntervalMs <= 0) return;
    this.#timer = setInterval(() => void this.#poll(), this.#options.pollIntervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #stopPolling(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const seq = await this.#options.readChangeSeq();
      if (seq > this.#seenSeq && !this.#closed) this.#emitUnknownRemote();
      this.#seenSeq = Math.max(this.#seenSeq, seq);
    } catch (error) {
      this.#options.onPollError?.(error);
    } finally {
      this.#polling = false;
    }
  }
}
