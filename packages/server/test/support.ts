import { CursorVersion, MemoryServerEventLog, type Event, type ServerEventLog } from '@eventsync/core';
import { TestEvents } from '@eventsync/testkit';
import { createSyncHandler, type SyncHandler, type SyncHandlerOptions } from '../src/index.js';

export const ALICE = 'alice-token';
export const BOB = 'bob-token';
export const CAROL = 'carol-token';

/** Alice and Carol write to tenant acme, Bob to tenant globex. */
export const TOKENS = {
  [ALICE]: { principal: 'alice', tenant: 'acme' },
  [CAROL]: { principal: 'carol', tenant: 'acme' },
  [BOB]: { principal: 'bob', tenant: 'globex' },
};

export interface TestServer {
  readonly handler: SyncHandler;
  readonly store: MemoryServerEventLog;
  /** `handler.fetch` on a path, with `token` as a bearer token when given. */
  request(path: string, init?: RequestInit & { token?: string }): Promise<Response>;
  /** Pushes events as JSON and answers the parsed body. */
  push(events: readonly unknown[], token?: string): Promise<Response>;
}

export function testServer(options: Partial<SyncHandlerOptions<string>> = {}): TestServer {
  const store = (options.store as MemoryServerEventLog | undefined) ?? new MemoryServerEventLog();
  const handler = createSyncHandler<string>({ tokens: TOKENS, ...options, store });
  const request = async (path: string, init: RequestInit & { token?: string } = {}): Promise<Response> => {
    const { token, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token !== undefined) headers.set('Authorization', `Bearer ${token}`);
    return handler.fetch(new Request(`http://localhost${path}`, { ...rest, headers }));
  };
  return {
    handler,
    store,
    request,
    push: (events, token = ALICE) =>
      request('/v1/events', {
        method: 'POST',
        token,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ events }),
      }),
  };
}

/** The whole of a tenant's log, as JSON text: equal before and after means nothing stored changed. */
export async function snapshot(
  store: ServerEventLog,
  tenants: readonly string[] = ['acme', 'globex'],
): Promise<string> {
  const parts: unknown[] = [];
  for (const tenant of tenants) {
    const page = await store.read(tenant, { since: CursorVersion.ZERO, limit: 1_000_000 });
    parts.push({ tenant, events: page.events });
  }
  return JSON.stringify(parts);
}

/** Events of a client, ready to push. */
export function events(clientId = 'alice'): TestEvents {
  return new TestEvents({ clientId });
}

export type { Event };

/** One parsed Server-Sent Events message. */
export interface SseMessage {
  readonly id?: string;
  readonly event?: string;
  readonly data?: string;
  readonly retry?: string;
  readonly comment?: string;
}

/**
 * Reads SSE messages from a byte stream, one at a time (a test-sized parser: `\n` line ends, which is
 * what the server writes).
 */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = '';

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next message or comment, or `undefined` when the stream ends; fails after `timeoutMs`. */
  async next(timeoutMs = 5000): Promise<SseMessage | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const end = this.#buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        return parseBlock(block);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No SSE message within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.#reader.read(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`No SSE message within ${timeoutMs} ms`)), left);
        }),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) return undefined;
      this.#buffer += this.#decoder.decode(chunk.value, { stream: true });
    }
  }

  /** The next message that is not a comment. */
  async nextMessage(timeoutMs = 5000): Promise<SseMessage | undefined> {
    for (;;) {
      const message = await this.next(timeoutMs);
      if (message === undefined || message.comment === undefined) return message;
    }
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => undefined);
  }
}

function parseBlock(block: string): SseMessage {
  const message: Record<string, string> = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      message.comment = line.slice(1).trim();
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    message[field] = field === 'data' && message.data !== undefined ? `${message.data}\n${value}` : value;
  }
  return message;
}

/** The events and cursor of an `events` message. */
export function batchOf(message: SseMessage | undefined): {
  events: { event: Event; version: string }[];
  cursor: string;
} {
  if (message?.event !== 'events' || message.data === undefined) {
    throw new Error(`Not an events message: ${JSON.stringify(message)}`);
  }
  return JSON.parse(message.data) as { events: { event: Event; version: string }[]; cursor: string };
}

/** Polls `condition` every few milliseconds until it holds; fails after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, timeoutMs = 5000, what = 'the condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
