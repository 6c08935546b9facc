import { CursorVersion, MemoryServerEventLog, SyncError, type AppendResult, type Event } from '@eventsync/core';
import { http, HttpResponse, type HttpHandler } from 'msw';
import {
  decodePullQuery,
  decodePush,
  decodePushRequest,
  encodePullResponse,
  encodePushResponse,
  encodeStreamBatch,
  formatStreamMessage,
  formatStreamOpening,
  MEDIA_TYPES,
  problemFromError,
  STREAM_HEARTBEAT,
  type PushChain,
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
  /** The push's chain, when its body names one. */
  readonly chain: PushChain | undefined;
  /** Fires when the client drops the request. */
  readonly signal: AbortSignal;
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
  /**
   * Whether pushes may name a chain; `false` refuses one with `400 invalid_request` (field `chain`),
   * as a server built on `decodePushRequest`. @defaultValue true
   */
  readonly chains?: boolean;
  /**
   * How long a chained push waits for the chain's previous push to be decided on this mock before it
   * is answered `409 chain_unknown`, in milliseconds. @defaultValue 1000
   */
  readonly chainWaitMs?: number;
  /**
   * Whether the answer of a chained push echoes its `chain`, as the protocol asks; `false` plays a
   * server or proxy that drops the member and decides each push as it comes, in parallel.
   * @defaultValue true
   */
  readonly echoesChains?: boolean;
  /** The most events a push may hold: more is `413 limit_exceeded`. @defaultValue Infinity */
  readonly maxEventsPerPush?: number;
  /** The log: two mocks given the same one are two server nodes of one service. @defaultValue a new one */
  readonly log?: MemoryServerEventLog;
}

/** What this mock remembers of a push chain. */
interface MockChain {
  /** Push 0 was seen. */
  started: boolean;
  /** The seq whose turn it is: every push before it was decided. */
  next: number;
  /** A push holds the turn. */
  busy: boolean;
  /** A push of the chain failed after its chain was read: the rest are `chain_broken`. */
  broken: boolean;
  /** Aggregates that met a `conflict` earlier in the chain, with that result. */
  readonly blocked: Map<string, AppendResult & { status: 'conflict' }>;
  /** Wakes the pushes waiting for their turn. */
  readonly waiting: Set<() => void>;
}

const encoder = new TextEncoder();

/**
 * A small eventsync server for msw: push, pull, version and the SSE stream over a
 * `MemoryServerEventLog`, written with the protocol codec. `intercept` answers a request instead of
 * the server (to inject errors: the server never sees such a request), `beforeAnswer` holds an
 * answer back; `requests` records what came in.
 *
 * Push chains are kept as the server keeps them on one node: a chained push waits (up to
 * `chainWaitMs`, or until the client drops it) for the chain's previous push to be decided, then is
 * decided, whatever order the requests arrived in; an aggregate that met a `conflict` earlier in the
 * chain is answered `conflict` again, unstored; after a push that failed once its chain was read, the
 * chain's later pushes are `409 chain_broken`; a push whose previous one never came is `409
 * chain_unknown`. Chains do not expire here.
 */
export class MockSyncServer {
  readonly log: MemoryServerEventLog;
  readonly tenant = 'acme';
  readonly requests: SeenRequest[] = [];
  /** The requests the client dropped before the server (or `intercept`) answered them. */
  readonly dropped: SeenRequest[] = [];
  readonly connections: MockConnection[] = [];
  /** Answers a request instead of the server when it returns a response. */
  intercept: (request: SeenRequest) => Response | undefined | Promise<Response | undefined> = () => undefined;
  /** Waited for after the server decided a push, before it answers: to answer out of order. */
  beforeAnswer: (request: SeenRequest, response: Response) => void | Promise<void> = () => undefined;
  /** Told when a stream connection opens, after its opening message and replay. */
  onConnection: (connection: MockConnection) => void = () => undefined;
  readonly #retryMs: number;
  readonly #honourLastEventId: boolean;
  readonly #takesChains: boolean;
  readonly #chainWaitMs: number;
  readonly #echoesChains: boolean;
  readonly #maxEventsPerPush: number;
  readonly #chains = new Map<string, MockChain>();

  constructor(options: MockSyncServerOptions = {}) {
    this.#retryMs = options.retryMs ?? 5;
    this.#honourLastEventId = options.honourLastEventId ?? true;
    this.#takesChains = options.chains ?? true;
    this.#chainWaitMs = options.chainWaitMs ?? 1000;
    this.#echoesChains = options.echoesChains ?? true;
    this.#maxEventsPerPush = options.maxEventsPerPush ?? Number.POSITIVE_INFINITY;
    this.log = options.log ?? new MemoryServerEventLog();
  }

  /** The msw handlers. */
  get handlers(): HttpHandler[] {
    return [http.all(`${BASE_URL}/*`, async ({ request }) => this.handle(request))];
  }

  /** The events of the log, in version order. */
  async stored(): Promise<Event[]> {
    const page = await this.log.read(this.tenant, { since: CursorVersion.ZERO, limit: 100_000 });
    return page.events.map((item) => item.event);
  }

  /** Appends events straight into the log (another client's push). */
  async append(events: readonly Event[]): Promise<void> {
    await this.log.append(this.tenant, events);
  }

  /** The requests to a path. */
  seen(path: string, method = 'GET'): SeenRequest[] {
    return this.requests.filter((request) => request.path === path && request.method === method);
  }

  /** Answers one request (what the msw handler calls; two mocks behind one handler are two nodes). */
  async handle(request: Request): Promise<Response> {
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
      chain: chainOf(body),
      signal: request.signal,
    };
    this.requests.push(seen);
    let answered = false;
    request.signal.addEventListener('abort', () => answered || this.dropped.push(seen), { once: true });
    const response = await this.#answer(seen, request, url, body);
    answered = true;
    return response;
  }

  async #answer(seen: SeenRequest, request: Request, url: URL, body: string | undefined): Promise<Response> {
    const intercepted = await this.intercept(seen);
    if (intercepted) return intercepted;
    try {
      if (url.pathname === '/v1/events' && request.method === 'POST') {
        const response = await this.#push(JSON.parse(body ?? '') as unknown, request.signal).catch(problemOf);
        await this.beforeAnswer(seen, response);
        return response;
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
      return problemOf(error);
    }
  }

  async #push(json: unknown, signal: AbortSignal): Promise<Response> {
    if (!this.#takesChains) {
      const events = decodePushRequest(json, this.#maxEventsPerPush) as Event[];
      return HttpResponse.json(encodePushResponse(await this.log.append(this.tenant, events)));
    }
    const { events, chain } = decodePush(json) as { events: Event[]; chain?: PushChain };
    if (chain === undefined || !this.#echoesChains) {
      decodePush(json, this.#maxEventsPerPush);
      return HttpResponse.json(encodePushResponse(await this.log.append(this.tenant, events)));
    }
    const state = this.#chainOf(chain.id);
    let turn = false;
    let waited = false;
    try {
      decodePush(json, this.#maxEventsPerPush);
      waited = true;
      await this.#turn(state, chain, signal);
      turn = true;
      const appending = events.filter((event) => !state.blocked.has(event.aggregateId));
      const appended = await this.log.append(this.tenant, appending);
      let next = 0;
      const results = events.map((event): AppendResult => {
        const earlier = state.blocked.get(event.aggregateId);
        if (earlier === undefined) return appended[next++] as AppendResult;
        return { id: event.id, status: 'conflict', latest: earlier.latest, reason: 'met a conflict earlier (mock)' };
      });
      results.forEach((result, i) => {
        const { aggregateId } = events[i] as Event;
        if (result.status === 'conflict' && !state.blocked.has(aggregateId)) state.blocked.set(aggregateId, result);
      });
      state.next++;
      return HttpResponse.json(encodePushResponse(results, this.#echoesChains ? chain : undefined));
    } catch (error) {
      // Refused before its turn, or failed in it: the chain's later pushes cannot be decided. A push
      // whose wait failed (no turn in time, the client gone) leaves the chain alone, as the server does.
      if (turn || (!waited && state.next <= chain.seq)) state.broken = true;
      throw error;
    } finally {
      if (turn) state.busy = false;
      for (const wake of [...state.waiting]) wake();
    }
  }

  #chainOf(id: string): MockChain {
    let state = this.#chains.get(id);
    if (state === undefined) {
      state = { started: false, next: 0, busy: false, broken: false, blocked: new Map(), waiting: new Set() };
      this.#chains.set(id, state);
    }
    return state;
  }

  /** Waits for push `chain.seq` to have its turn, and takes it. */
  async #turn(state: MockChain, chain: PushChain, signal: AbortSignal): Promise<void> {
    if (chain.seq === 0) {
      if (state.started) throw chainProblem('chain_broken', 'the chain id was used already');
      state.started = true;
    }
    const deadline = Date.now() + this.#chainWaitMs;
    for (;;) {
      if (state.broken) throw chainProblem('chain_broken', 'an earlier push of the chain failed');
      if (state.next > chain.seq) throw chainProblem('chain_broken', `push ${chain.seq} was decided already`);
      if (state.next === chain.seq && !state.busy) {
        state.busy = true;
        return;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw chainProblem('chain_unknown', `push ${chain.seq - 1} never came`);
      await new Promise<void>((resolve, reject) => {
        const settle = (): void => {
          clearTimeout(timer);
          state.waiting.delete(wake);
          signal.removeEventListener('abort', dropped);
        };
        const wake = (): void => {
          settle();
          resolve();
        };
        const dropped = (): void => {
          settle();
          reject(new SyncError('aborted', 'The client dropped the request'));
        };
        const timer = setTimeout(wake, left);
        state.waiting.add(wake);
        if (signal.aborted) dropped();
        else signal.addEventListener('abort', dropped, { once: true });
      });
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

function problemOf(error: unknown): Response {
  const document = problemFromError(error);
  return HttpResponse.json(document, { status: document.status, headers: { 'Content-Type': MEDIA_TYPES.problem } });
}

function chainProblem(code: 'chain_broken' | 'chain_unknown', why: string): SyncError {
  return new SyncError('conflict', `The push cannot be decided in its chain's order: ${why}`, {
    details: { problem: code, status: 409 },
  });
}

function chainOf(body: string | undefined): PushChain | undefined {
  try {
    const chain = (JSON.parse(body ?? '') as { chain?: PushChain }).chain;
    return typeof chain === 'object' && chain !== null ? chain : undefined;
  } catch {
    return undefined;
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
