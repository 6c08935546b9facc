import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  MemoryServerEventLog,
  type AppendNotice,
  type AppendResult,
  type CursorVersion,
  type Event,
  type EventPage,
  type ReadOptions,
  type ServerEventLog,
  type SignalOptions,
} from '@eventsync/core';
import { WebSocket } from 'ws';
import {
  attachWebSocketSync,
  DEFAULT_SOCKET_PATH,
  SUBPROTOCOL,
  WebSocketTransport,
  type WebSocketSync,
  type WebSocketSyncOptions,
  type WebSocketTransportOptions,
} from '../src/index.js';

/** The token of tenant `acme` in every test server. */
export const TOKEN = 'acme-token';
/** The token of tenant `globex`. */
export const OTHER_TOKEN = 'globex-token';

export const TOKENS = {
  [TOKEN]: { principal: 'tester', tenant: 'acme' },
  [OTHER_TOKEN]: { principal: 'other', tenant: 'globex' },
};

/** Subscriptions come back within milliseconds in tests. */
export const FAST_RECONNECT = { initialDelayMs: 5, maxDelayMs: 50 };

/**
 * A server log whose appends a test can hold, watch and follow with an action (dropping every
 * socket between the append and its answer).
 */
export class ControlledLog implements ServerEventLog {
  readonly inner = new MemoryServerEventLog();
  /** The size of each batch appended, in order. */
  readonly appends: number[] = [];
  /** Awaited before each append reaches the log. */
  beforeAppend: (() => Promise<void>) | undefined;
  /** Run after each append committed, before its results go back. */
  afterAppend: (() => void) | undefined;

  async append(tenant: string, events: readonly Event[], options?: SignalOptions): Promise<AppendResult[]> {
    await this.beforeAppend?.();
    this.appends.push(events.length);
    const results = await this.inner.append(tenant, events, options);
    this.afterAppend?.();
    return results;
  }

  read(tenant: string, options?: ReadOptions): Promise<EventPage> {
    return this.inner.read(tenant, options);
  }

  latestVersion(tenant: string, options?: SignalOptions): Promise<CursorVersion> {
    return this.inner.latestVersion(tenant, options);
  }

  subscribe(listener: (notice: AppendNotice) => void): () => void {
    return this.inner.subscribe(listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A sync server on 127.0.0.1 with a port of its own. */
export interface TestServer {
  readonly log: ControlledLog;
  readonly http: Server;
  readonly sync: WebSocketSync;
  /** `ws://127.0.0.1:<port>/v1/socket`. */
  readonly url: string;
  /** Closes the sync server, the HTTP server and the log. */
  close(): Promise<void>;
}

/** Starts `attachWebSocketSync` on a fresh `http.Server` at 127.0.0.1, port 0, over a {@link ControlledLog}. */
export async function startServer(options: Partial<WebSocketSyncOptions<string>> = {}): Promise<TestServer> {
  const log = new ControlledLog();
  const http = createServer((_request, response) => response.writeHead(426).end());
  const sync = attachWebSocketSync<string>(http, { store: log, tokens: TOKENS, ...options });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  return {
    log,
    http,
    sync,
    url: `ws://127.0.0.1:${port}${DEFAULT_SOCKET_PATH}`,
    close: async () => {
      await sync.close({ timeoutMs: 500 });
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await log.close();
    },
  };
}

/** A transport of tenant `acme` (by default) with test timings. */
export function transportFor(url: string, options: Partial<WebSocketTransportOptions> = {}): WebSocketTransport {
  return new WebSocketTransport({
    url,
    WebSocket,
    token: () => TOKEN,
    timeoutMs: 2000,
    reconnect: FAST_RECONNECT,
    ...options,
  });
}

/** A raw `ws` client, for what the transport never sends. */
export interface RawSocket {
  readonly socket: WebSocket;
  /** The parsed messages received so far. */
  readonly messages: Record<string, unknown>[];
  /** Settles with the close code and reason once the socket has closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Sends `message` as JSON. */
  send(message: unknown): void;
  /** Waits for the next message matching `match` (1 s at most). */
  next(match?: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** Opens a raw socket offering `protocols`; resolves once it is open. */
export async function rawSocket(url: string, protocols: string[] = [SUBPROTOCOL]): Promise<RawSocket> {
  const socket = new WebSocket(url, protocols);
  const messages: Record<string, unknown>[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  socket.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString()) as Record<string, unknown>));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    socket,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    next: async (match = () => true) => {
      const deadline = Date.now() + 1000;
      for (;;) {
        const found = messages.find(match);
        if (found) return found;
        if (Date.now() > deadline) throw new Error('timed out waiting for a message');
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    },
  };
}

/** Polls `condition` every 2 ms until it holds; fails after `timeoutMs` saying what it waited for. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A promise and the function that resolves it. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}
