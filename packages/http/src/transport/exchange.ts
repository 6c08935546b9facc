import { SyncError } from '@eventsync/core';

/**
 * One request's cancellation: a controller that fires when the caller's signal fires (with its
 * reason), when the transport closes (`closed`) or when the time is up (`timeout`). Whatever `fetch`
 * or a body read then throws, {@link Exchange.fail} turns into that reason, so a caller's abort always
 * rejects with the caller's own `signal.reason`.
 */
export class Exchange {
  readonly #controller = new AbortController();
  readonly #unlink: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(signals: readonly (AbortSignal | undefined)[], timeoutMs: number, what: string) {
    for (const signal of signals) {
      if (signal === undefined) continue;
      if (signal.aborted) {
        this.#controller.abort(reasonOf(signal));
        break;
      }
      const onAbort = (): void => this.#controller.abort(reasonOf(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlink.push(() => signal.removeEventListener('abort', onAbort));
    }
    if (!this.#controller.signal.aborted && Number.isFinite(timeoutMs)) {
      this.#timer = setTimeout(() => {
        this.#controller.abort(
          new SyncError('timeout', `${what} got no answer within ${timeoutMs} ms`, { details: { timeoutMs } }),
        );
      }, timeoutMs);
    }
  }

  /** The signal to hand to `fetch` and body reads. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Throws the reason when the exchange was cancelled. */
  throwIfAborted(): void {
    if (this.signal.aborted) throw this.signal.reason;
  }

  /** Aborts the exchange with `reason` (e.g. a stream that went quiet). */
  abort(reason: unknown): void {
    this.#controller.abort(reason);
  }

  /** Stops the timeout (a stream's lifetime is not a request's). */
  stopTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Releases the listeners and the timer. */
  dispose(): void {
    this.stopTimer();
    for (const unlink of this.#unlink.splice(0)) unlink();
  }

  /**
   * The error a failed `fetch` or body read rejects with: the cancellation reason when the exchange
   * was cancelled; `SyncError('network')` for a network failure (fetch's `TypeError`).
   */
  failure(error: unknown, what: string): unknown {
    if (this.signal.aborted) return this.signal.reason;
    if (error instanceof SyncError) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new SyncError('network', `${what} could not reach the server: ${message}`, { cause: error });
  }
}

function reasonOf(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  return reason === undefined ? new SyncError('aborted', 'The operation was aborted') : reason;
}
