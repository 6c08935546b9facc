import { createAdaptorServer } from '@hono/node-server';
import { SyncError, type SignalOptions } from '@eventsync/core';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';

/** What {@link serve} can run: a sync handler, or your own Hono app with the handler mounted in it. */
export interface Servable {
  /**
   * Answers one request; {@link serve} calls it for every request the server receives. `env` is
   * whatever bindings the serving adapter passes, if any: a sync handler reads none.
   */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  /** Called on shutdown when present (a sync handler has it: it ends streams and drains requests). */
  close?(options?: { timeoutMs?: number }): Promise<void>;
}

/** Options of {@link serve}. */
export interface ServeOptions extends SignalOptions {
  /**
   * The TCP port; `0` picks a free one (read it from the answer's `port` or `url`).
   *
   * @defaultValue 8787
   */
  readonly port?: number;
  /**
   * The interface to listen on. `127.0.0.1` keeps the server on this machine; `0.0.0.0` (or `::`)
   * opens it to the network.
   *
   * @defaultValue `'127.0.0.1'`
   */
  readonly host?: string;
  /**
   * How long a shutdown waits for requests in flight before closing their connections, in milliseconds.
   *
   * @defaultValue 10000
   */
  readonly shutdownTimeoutMs?: number;
  /**
   * How long an idle kept-alive connection stays open for the client's next request, in
   * milliseconds (node:http's `keepAliveTimeout`), from 1 to 2^31 − 1. Behind a load balancer or
   * proxy that reuses connections, make it longer than the balancer's own idle timeout (an AWS ALB's
   * is 60 s: 65000), or the balancer may send a request on a connection the server is closing and
   * answer its client `502`. It does not lengthen the time a request's headers may take
   * (`headersTimeout`, 60 s), which node:http counts from the request's first byte.
   *
   * @defaultValue 5000 (node:http's)
   */
  readonly keepAliveTimeoutMs?: number;
  /**
   * Process signals that shut the server down gracefully, e.g. `['SIGINT', 'SIGTERM']`. A library
   * takes none by default: the program decides what its signals do (the `eventsync` command takes both).
   *
   * @defaultValue `[]`
   */
  readonly shutdownOn?: readonly NodeJS.Signals[];
}

/** The longest delay a Node timer takes (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** The defaults of {@link ServeOptions}. */
export const DEFAULT_SERVE_OPTIONS = {
  /** The default {@link ServeOptions.port}: 8787. */
  port: 8787,
  /** The default {@link ServeOptions.host}: loopback only, so the server is not on the network until you say so. */
  host: '127.0.0.1',
  /** The default {@link ServeOptions.shutdownTimeoutMs}, in milliseconds: 10 s for requests in flight. */
  shutdownTimeoutMs: 10_000,
  /** The default {@link ServeOptions.keepAliveTimeoutMs}, in milliseconds: node:http's 5 s. */
  keepAliveTimeoutMs: 5_000,
  /** The default {@link ServeOptions.shutdownOn}: none, as the program decides what its signals do. */
  shutdownOn: [] as readonly NodeJS.Signals[],
} as const;

/** A listening server. */
export interface RunningServer {
  /** Where it listens, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  /** The interface it listens on, as `options.host` gave it (or the default `127.0.0.1`). */
  readonly host: string;
  /** The port it listens on: the one the system picked when `options.port` was 0. */
  readonly port: number;
  /** The node:http server underneath. */
  readonly server: Server;
  /**
   * Shuts down gracefully: stops accepting connections, lets the handler end its streams and finish
   * the requests in flight, then closes the connections (those still busy after
   * `shutdownTimeoutMs` are cut). Idempotent; also run by `signal` and `shutdownOn`.
   */
  close(): Promise<void>;
  /** Settles once the server has shut down, however that was started. */
  readonly closed: Promise<void>;
}

/**
 * Serves a sync handler over node:http, by `@hono/node-server`.
 *
 * @throws SyncError `unavailable` when the port is in use, `forbidden` when listening on it is not
 *   allowed, `invalid_input` for a host this machine does not have or a bad port.
 *
 * @example
 * ```ts
 * const running = await serve(createSyncHandler({ store, tokens }), { port: 8787, shutdownOn: ['SIGINT', 'SIGTERM'] });
 * console.log(`listening on ${running.url}`);
 * ```
 */
export async function serve(app: Servable, options: ServeOptions = {}): Promise<RunningServer> {
  const { port, host, shutdownTimeoutMs, shutdownOn } = { ...DEFAULT_SERVE_OPTIONS, ...options };
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? DEFAULT_SERVE_OPTIONS.keepAliveTimeoutMs;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) {
    throw new SyncError('invalid_input', `port must be an integer from 0 to 65535, got ${String(port)}`, {
      details: { field: 'port' },
    });
  }
  if (!Number.isSafeInteger(keepAliveTimeoutMs) || keepAliveTimeoutMs < 1 || keepAliveTimeoutMs > MAX_TIMEOUT_MS) {
    throw new SyncError(
      'invalid_input',
      `keepAliveTimeoutMs must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${String(keepAliveTimeoutMs)}`,
      { details: { field: 'keepAliveTimeoutMs' } },
    );
  }
  options.signal?.throwIfAborted();
  const server = createAdaptorServer({ fetch: (request, env) => app.fetch(request, env) }) as Server;
  server.keepAliveTimeout = keepAliveTimeoutMs;
  await listen(server, port, host);
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' || host.includes(':') ? `[${address.address}]` : host;
  const url = `http://${urlHost}:${address.port}`;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  let closing: Promise<void> | undefined;
  const onSignal = (): void => void close();
  const close = (): Promise<void> => {
    closing ??= (async () => {
      options.signal?.removeEventListener('abort', onSignal);
      for (const signal of shutdownOn) process.off(signal, onSignal);
      try {
        await closeGracefully(server, {
          timeoutMs: shutdownTimeoutMs,
          drain: () => app.close?.({ timeoutMs: shutdownTimeoutMs }) ?? Promise.resolve(),
        });
      } finally {
        resolveClosed();
      }
    })();
    return closing;
  };
  options.signal?.addEventListener('abort', onSignal, { once: true });
  for (const signal of shutdownOn) process.once(signal, onSignal);
  return { url, host, port: address.port, server, close, closed };
}

/** Options of {@link closeGracefully}. */
export interface CloseGracefullyOptions {
  /**
   * How long the whole shutdown may take, in milliseconds: past it, connections still busy are cut.
   *
   * @defaultValue 10000
   */
  readonly timeoutMs?: number;
  /**
   * Work to wait for while the server no longer accepts connections but still serves the open ones:
   * e.g. a sync handler's `close` (streams end, requests in flight finish), or your own count of
   * responses in flight. It gets the milliseconds left until the deadline, and is not waited for past
   * it.
   *
   * @defaultValue nothing to wait for
   */
  readonly drain?: (remainingMs: number) => Promise<void>;
}

/**
 * Stops a `node:http` server gracefully: it stops accepting connections at once, waits for `drain`,
 * then closes kept-alive connections as each goes idle (a response being written is not cut) and, at
 * the deadline, every connection still open. Resolves once the server is closed, also when `drain`
 * throws (the error is rethrown after). What {@link serve} does on shutdown, for servers of your own
 * (see `nodeListener`).
 *
 * @example
 * ```ts
 * const handler = createSyncHandler({ store, tokens });
 * const server = createServer(nodeListener(handler)).listen(8787, '127.0.0.1');
 * process.once('SIGTERM', async () => {
 *   await closeGracefully(server, { timeoutMs: 10_000, drain: (ms) => handler.close({ timeoutMs: ms }) });
 *   await store.close();
 * });
 * ```
 */
export async function closeGracefully(server: Server, options: CloseGracefullyOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SERVE_OPTIONS.shutdownTimeoutMs;
  if (!(timeoutMs >= 0)) {
    throw new SyncError('invalid_input', `timeoutMs must be 0 or more, got ${String(timeoutMs)}`, {
      details: { field: 'timeoutMs' },
    });
  }
  const deadline = Date.now() + timeoutMs;
  const serverClosed = server.listening
    ? new Promise<void>((resolve) => server.close(() => resolve()))
    : Promise.resolve();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // The deadline holds for the drain too: one that hangs does not hold the shutdown up.
    const drained = options.drain?.(timeoutMs);
    if (drained !== undefined) {
      await Promise.race([drained, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    }
  } finally {
    clearTimeout(timer);
    // Connections that finished their last response are closed as they become idle; after the
    // deadline the rest are cut.
    const sweep = setInterval(() => {
      if (Date.now() >= deadline) server.closeAllConnections();
      else server.closeIdleConnections();
    }, 25);
    server.closeIdleConnections();
    await serverClosed;
    clearInterval(sweep);
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(listenError(error, port, host));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function listenError(error: NodeJS.ErrnoException, port: number, host: string): SyncError {
  const where = `${host}:${port}`;
  const details = { systemCode: error.code, host, port };
  switch (error.code) {
    case 'EADDRINUSE':
      return new SyncError('unavailable', `Port ${port} on ${host} is already in use (is another server running?)`, {
        cause: error,
        details,
        retryable: false,
      });
    case 'EACCES':
    case 'EPERM':
      return new SyncError('forbidden', `Not allowed to listen on ${where} (ports below 1024 need privileges)`, {
        cause: error,
        details,
      });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new SyncError('invalid_input', `Cannot listen on ${where}: this machine has no such address`, {
        cause: error,
        details: { ...details, field: 'host' },
      });
    default:
      return new SyncError('network', `Cannot listen on ${where}: ${error.message}`, { cause: error, details });
  }
}
