import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SyncError } from '@eventsync/core';
import type { AppendAnswer, BatchFields } from './append-batch.js';
import { fromWireError, type WriterReply, type WriterRequest, type WriterSettings } from './writer-messages.js';

/**
 * The writer thread's script: the package's built `dist/sqlite-writer-thread.js`, from `dist/` (the
 * published package) and from `src/` (the workspace's tests) alike.
 */
export const WRITER_SCRIPT = new URL('../dist/sqlite-writer-thread.js', import.meta.url);

/**
 * How many appends are posted to the thread at once: the one it runs and the next, so it never waits
 * for a message between two. The others wait here, where their signal can still cancel them.
 */
const POSTED = 2;

interface PendingAppend {
  readonly tenant: string;
  readonly fields: BatchFields;
  readonly resolve: (answer: AppendAnswer) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * The worker thread that runs a `SqliteEventStore`'s appends (`writer: 'thread'`), seen from the
 * store's thread. Appends run one after another in the order they were asked, and resolve in that
 * order. An append whose signal fires while it waits here is dropped, rejected with the signal's
 * reason; once posted to the thread, it runs to its end. The thread keeps the process alive only
 * while it starts, while appends are pending, and while it closes.
 *
 * When the thread stops (it failed to open its connection, threw, or exited), every pending and
 * later append rejects with `SyncError('storage')` saying so, the cause attached.
 */
export class WriterThread {
  readonly #worker: Worker;
  readonly #exited: Promise<void>;
  readonly #waiting: PendingAppend[] = [];
  readonly #posted: PendingAppend[] = [];
  readonly #whenIdle: (() => void)[] = [];
  readonly #ready: Promise<void>;
  #settleReady: ((error?: SyncError) => void) | undefined;
  /** Whether the thread said it had its connection. */
  #started = false;
  #referenced = false;
  #stopped: { readonly cause: unknown } | undefined;
  #closing: Promise<void> | undefined;
  #onClosed: ((error: SyncError | undefined) => void) | undefined;

  /**
   * Starts the thread, which opens its connection with `settings`.
   *
   * @param script - the thread's script; tests give another.
   * @throws SyncError `storage` when the script is missing (the package was not built)
   */
  constructor(settings: WriterSettings, script: URL = WRITER_SCRIPT) {
    const file = fileURLToPath(script);
    if (!existsSync(file)) {
      throw new SyncError(
        'storage',
        `The SQLite event store's writer thread script ${file} is missing: build @eventsync/sqlite (pnpm build), ` +
          `or open the store with writer: 'inline'`,
      );
    }
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#settleReady = (error) => {
        this.#settleReady = undefined;
        if (error === undefined) resolve();
        else reject(error);
      };
    });
    this.#ready.catch(() => undefined); // Appends fail with the same error; nobody need ask.
    this.#worker = new Worker(script, { workerData: settings });
    this.#worker.unref(); // #referenced says so
    this.#reference(); // referenced while it starts, and while appends are pending
    this.#worker.on('message', (reply: WriterReply) => this.#reply(reply));
    this.#worker.on('messageerror', (error) => this.#stop(error));
    this.#worker.on('error', (error) => this.#stop(error));
    this.#exited = new Promise((resolve) => {
      this.#worker.once('exit', (code) => {
        this.#stop(new Error(`the thread exited with code ${code}`));
        resolve();
      });
    });
  }

  /**
   * Resolves once the thread has opened its connection (appends asked before then wait for it, in
   * order); rejects with a `storage` error when the thread stopped before (it could not open its
   * connection) or since (appends fail with the same cause). The process stays alive while the
   * thread starts.
   */
  ready(): Promise<void> {
    if (this.#started && this.#stopped !== undefined) return Promise.reject(stoppedError(this.#stopped.cause));
    return this.#ready;
  }

  /** Runs a prepared batch's append on the thread; resolves with its answer, in call order. */
  append(tenant: string, fields: BatchFields, signal?: AbortSignal): Promise<AppendAnswer> {
    if (this.#closing !== undefined) return Promise.reject(new SyncError('closed', 'The SQLite event store is closed'));
    if (this.#stopped !== undefined) return Promise.reject(stoppedError(this.#stopped.cause));
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    return new Promise((resolve, reject) => {
      const pending: PendingAppend = {
        tenant,
        fields,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.#waiting.indexOf(pending);
          if (index < 0) return;
          this.#waiting.splice(index, 1);
          reject(abortReason(signal!));
          this.#settled();
        },
      };
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.#waiting.push(pending);
      this.#post();
    });
  }

  /**
   * Waits for the pending appends, then closes the thread's connection and ends the thread.
   * Idempotent; appends asked after it started reject with `closed`.
   *
   * @throws SyncError `storage` when the thread's connection failed to close
   */
  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    if (this.#waiting.length + this.#posted.length > 0) {
      await new Promise<void>((resolve) => this.#whenIdle.push(resolve));
    }
    if (this.#stopped !== undefined) {
      await this.#worker.terminate();
      return;
    }
    this.#worker.ref();
    const closed = new Promise<SyncError | undefined>((resolve) => (this.#onClosed = resolve));
    this.#send({ type: 'close' });
    const error = await closed;
    await this.#exited;
    if (error !== undefined) throw error;
  }

  #post(): void {
    while (this.#posted.length < POSTED && this.#waiting.length > 0 && this.#stopped === undefined) {
      const pending = this.#waiting.shift()!;
      pending.signal?.removeEventListener('abort', pending.onAbort);
      this.#posted.push(pending);
      this.#send({ type: 'append', tenant: pending.tenant, fields: pending.fields });
    }
    this.#reference();
  }

  #send(request: WriterRequest): void {
    this.#worker.postMessage(request);
  }

  #reply(reply: WriterReply): void {
    switch (reply.type) {
      case 'ready':
        this.#started = this.#stopped === undefined;
        this.#settleReady?.();
        this.#reference();
        return;
      case 'appended':
      case 'failed': {
        const pending = this.#posted.shift();
        if (pending === undefined) {
          this.#stop(new Error(`the thread answered an append that was not asked (${reply.type})`));
          return;
        }
        if (reply.type === 'appended') pending.resolve(reply.answer);
        else pending.reject(fromWireError(reply.error));
        this.#post();
        this.#settled();
        return;
      }
      case 'closed':
        this.#onClosed?.(reply.error && fromWireError(reply.error));
        this.#onClosed = undefined;
        return;
      case 'stopped':
        this.#stop(fromWireError(reply.error));
        return;
    }
  }

  /** The thread cannot run appends any more: every pending one rejects, and so will later ones. */
  #stop(cause: unknown): void {
    // A close still waiting for the thread's answer: the thread ended before it closed its connection.
    this.#onClosed?.(stoppedError(cause));
    this.#onClosed = undefined;
    if (this.#stopped !== undefined) return;
    this.#stopped = { cause };
    this.#settleReady?.(notStartedError(cause));
    const pending = [...this.#posted.splice(0), ...this.#waiting.splice(0)];
    for (const item of pending) {
      item.signal?.removeEventListener('abort', item.onAbort);
      item.reject(stoppedError(cause));
    }
    this.#settled();
  }

  /** After an append settled: lets the process exit when none is left, and wakes a waiting close. */
  #settled(): void {
    this.#reference();
    if (this.#waiting.length + this.#posted.length > 0) return;
    for (const resolve of this.#whenIdle.splice(0)) resolve();
  }

  #reference(): void {
    const busy =
      (this.#settleReady !== undefined || this.#waiting.length + this.#posted.length > 0) &&
      this.#stopped === undefined;
    if (busy === this.#referenced || this.#closing !== undefined) return;
    this.#referenced = busy;
    if (busy) this.#worker.ref();
    else this.#worker.unref();
  }
}

function stoppedError(cause: unknown): SyncError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SyncError(
    'storage',
    `The SQLite event store's writer thread stopped (${why}); appends fail until the store is opened again`,
    {
      cause,
    },
  );
}

/** The error of a thread that stopped before it had its connection: the store cannot append at all. */
function notStartedError(cause: unknown): SyncError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new SyncError('storage', `The SQLite event store's writer thread did not start (${why})`, { cause });
}

/** What an aborted call rejects with: the signal's reason, or `SyncError('aborted')` when it has none. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason === undefined ? new SyncError('aborted', 'The operation was aborted') : signal.reason;
}
