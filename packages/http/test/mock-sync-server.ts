import { CursorVersion, MemoryServerEventLog, type Event } from '@eventsync/core';
import { http, HttpResponse, type HttpHandler } from 'msw';
import {
  decodePullQuery,
  decodePushRequest,
  encodePullResponse,
  encodePushResponse,
  encodeStreamBatch,
  formatStreamMessage,
  formatStreamOpening,
  MEDIA_TYPES,
  problemFromError,
  STREAM_HEARTBEAT,
} from '../src/index.js';

/** Where the mock listens (msw intercepts; nothing leaves the process). */
export const BASE_URL = 'http://127.0.0.1:8787';

/** What the mock saw of one request. */
export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Headers;
  /** The body as the server read it (after gzip). */
  readonly body: string | undefined;
}

/** An open `/v1/stream` connection of the mock. */
export interface MockConnection {
  /** Sends raw SSE text. */
  send(text: string): void;
  /** Ends the stream cleanly (EOF). */
  end(): void;
  /** Breaks the stream (the body read fails, like a reset connection). */
  cut(): void;
  readonly closed: boolean;
}

/** Options of {@link MockSyncServer}. */
export interface MockSyncServerOptions {
  /** The `retry:` the stream opens with. @defaultValue 5 */
  readonly retryMs?: number;
  /** Whether the stream replays from `Last-Event-ID` (a broken server replays from `since=` only). */
  readonly honourLastEventId?: boolean;
}

const encoder = new TextEncoder();

/**
 * A small eventsync server for msw: push, pull, version and the SSE stream over a
 * `MemoryServerEventLog`, written with the protocol codec. `intercept` answers a request instead of
 * the server (to inject errors); `requests` records what came in.
 */
export class MockSyncServer {
  readonly log = new MemoryServerEventLog();
  readonly tenant = 'acme';
  readonly requests: SeenRequest[] = [];
  readonly connections: MockConnection[] = [];
  /** Answers a request instead of the server when it returns a response. */
  intercept: (request: SeenRequest) => Response | undefined | Promise<Response | undefined> = () => undefined;
  /** Told when a stream connection opens, after its opening message and replay. */
  onConnection: (connection: MockConnection) => void = () => undefined;
  readonly #retryMs: number;
  readonly #honourLastEventId: boolean;

  constructor(options: MockSyncServerOptions = {}) {
    this.#retryMs = options.retryMs ?? 5;
    this.#honourLastEventId = options.honourLastEventId ?? true;
  }

  /** The msw handlers. */
  get handlers(): HttpHandler[] {
    return [http.all(`${BASE_URL}/*`, async ({ request }) => this.#handle(request))];
  }

  /** Appends events straight into the log (another client's push). */
  async append(events: readonly Event[]): Promise<void> {
    await this.log.append(this.tenant, events);
  }

  /** The requests to a path. */
  seen(path: string, method = 'GET'): SeenRequest[] {
    return this.requests.filter((request) => request.path === path && request.method === method);
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let body: string | undefined;
    if (request.method === 'POST') {
      const bytes =
        request.headers.get('Content-Encoding') === 'gzip'
          ? new Response(request.body!.pipeThrough(new DecompressionStream('gzip')))
          : request;
      body = await bytes.text();
    }
    const seen: SeenRequest = {
      method: request.method,
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body,
    };
    this.requests.push(seen);
    const intercepted = await this.intercept(seen);
    if (intercepted) return intercepted;
    try {
      if (url.pathname === '/v1/events' && request.method === 'POST') {
        const events = decodePushRequest(JSON.parse(body ?? '') as unknown) as Event[];
        return HttpResponse.json(encodePushResponse(await this.log.append(this.tenant, events)));
      }
      if (url.pathname === '/v1/events') {
        const query = decodePullQuery(url.searchParams);
        return HttpResponse.json(encodePullResponse(await this.log.read(this.tenant, query)));
      }
      if (url.pathname === '/v1/version') {
        return HttpResponse.json({ latest: (await this.log.latestVersion(this.tenant)).toString() });
      }
      if (url.pathname === '/v1/health') return HttpResponse.json({ status: 'ok', protocol: 1 });
      if (url.pathname === '/v1/stream') return await this.#stream(request, url);
      return problemResponse(404, 'not_found');
    } catch (error) {
      const document = problemFromError(error);
      return HttpResponse.json(document, { status: document.status, headers: { 'Content-Type': MEDIA_TYPES.problem } });
    }
  }

  async #stream(request: Request, url: URL): Promise<Response> {
    const lastEventId = this.#honourLastEventId ? request.headers.get('Last-Event-ID') : null;
    const since = lastEventId ?? url.searchParams.get('since');
    let cursor = since === null ? await this.log.latestVersion(this.tenant) : CursorVersion.parse(since);
    let stop = (): void => undefined;
    let closed = false;
    const stream = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        const connection: MockConnection = {
          send: (text) => {
            if (!closed) controller.enqueue(encoder.encode(text));
          },
          end: () => {
            if (closed) return;
            closed = true;
            stop();
            controller.close();
          },
          cut: () => {
            if (closed) return;
            closed = true;
            stop();
            controller.error(new TypeError('connection reset (mock)'));
          },
          get closed() {
            return closed;
          },
        };
        request.signal.addEventListener('abort', () => connection.end(), { once: true });
        connection.send(formatStreamOpening(cursor, this.#retryMs));
        // Replay what the client missed, then follow appends; one read at a time keeps the order.
        let reading = Promise.resolve();
        const pump = (): void => {
          reading = reading.then(async () => {
            for (;;) {
              const page = await this.log.read(this.tenant, { since: cursor, limit: 100 });
              if (page.events.length === 0 || closed) return;
              cursor = page.next;
              connection.send(formatStreamMessage(encodeStreamBatch({ events: page.events, cursor: page.next })));
            }
          });
        };
        stop = this.log.subscribe(() => pump());
        pump();
        await reading;
        this.connections.push(connection);
        this.onConnection(connection);
      },
    });
    return new HttpResponse(stream, {
      headers: { 'Content-Type': MEDIA_TYPES.eventStream, 'Cache-Control': 'no-cache' },
    });
  }
}

/** A problem response of `code`. */
export function problemResponse(
  status: number,
  code: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Response {
  return HttpResponse.json(
    { type: `urn:eventsync:problem:${code}`, title: code, status, code, detail: `mock ${code}`, ...extra },
    { status, headers: { 'Content-Type': MEDIA_TYPES.problem, ...headers } },
  );
}

export { STREAM_HEARTBEAT };
