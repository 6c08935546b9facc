import { MEDIA_TYPES, problem, type ProblemDocument } from '@eventsync/http';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * The node:http request and response behind a `Request`, which {@link nodeListener} hands its handler
 * beside it: a Hono app sees them as `c.env` (the shape of `@hono/node-server`'s bindings, so its
 * `getConnInfo(c)` finds the client's address). A sync handler reads neither.
 */
export interface NodeBindings {
  /** The node:http request: its socket, its raw headers. Its body is the `Request`'s; read it there. */
  readonly incoming: IncomingMessage;
  /** The node:http response. The listener writes it from the `Response`: leave it alone. */
  readonly outgoing: ServerResponse;
}

/**
 * A web-standard request handler: a function of a `Request` to its `Response`, such as a sync
 * handler's `fetch` or any Hono app's. A function that takes the request alone is one too.
 */
export type FetchHandler = (request: Request, env: NodeBindings) => Response | Promise<Response>;

/** A `node:http` request listener, what `createServer(listener)` and `server.on('request', listener)` take. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/** Options of {@link nodeListener}. */
export interface NodeListenerOptions {
  /**
   * Told of each failure the listener answered with a bare `500` (the handler threw or rejected) or
   * ended by cutting the connection (the response body failed midway, or node:http refused the
   * response's headers). Requests the listener refuses as `400` are the client's mistakes and are
   * not reported.
   *
   * @defaultValue none: such failures are answered (or the connection cut) and not reported
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * Turns a web-standard handler, such as a sync handler, into a `node:http` request listener, so it can
 * answer some or all of the requests of a server you made yourself (`serve` makes its own):
 *
 * - The `Request` has the method, the URL (the target's path and query as sent, on the `Host` the
 *   client named; `https:` on a TLS socket), every header, and, for methods other than GET and HEAD,
 *   the body as a stream that reads the socket only as the handler reads it (a request refused
 *   before its body is read costs nothing). What the handler left unread is read and dropped after
 *   the answer, so a kept-alive connection can carry the next request.
 * - The request's `signal` fires when the client goes away before the answer is written, which is
 *   what ends a Server-Sent Events subscription on the server.
 * - The handler also gets the node:http request and response as its second argument
 *   ({@link NodeBindings}), Hono's `c.env`.
 * - The `Response` is written with backpressure (a slow reader slows the body down instead of
 *   filling memory); a `text/event-stream` answer has its headers sent at once, before its first
 *   event; the body is cancelled when the connection closes.
 * - A handler that throws is answered `500` with an `application/problem+json` document (code
 *   `internal`); a request that a `Request` cannot represent (method `TRACE`, a header value
 *   `fetch` refuses) is answered `400` (code `invalid_request`) without asking the handler.
 *
 * @param handler - the handler: a function of a `Request`, or an object with such a `fetch` method
 *   (a sync handler, a Hono app).
 * @param options - see {@link NodeListenerOptions}.
 * @returns the listener; it never throws, and answers each request once.
 *
 * @example
 * Mounting the sync endpoint under `/sync/` of an app of your own:
 * ```ts
 * import { createServer } from 'node:http';
 * import { createSyncHandler, nodeListener } from '@eventsync/server';
 *
 * const handler = createSyncHandler({ store, tokens, basePath: '/sync' });
 * const sync = nodeListener(handler, { onError: (error) => console.error(error) });
 * const server = createServer((req, res) => (req.url?.startsWith('/sync/') ? sync(req, res) : appRoutes(req, res)));
 * server.listen(3000, '127.0.0.1');
 * ```
 */
export function nodeListener(
  handler: FetchHandler | { readonly fetch: FetchHandler },
  options: NodeListenerOptions = {},
): NodeListener {
  const fetch: FetchHandler = typeof handler === 'function' ? handler : (request, env) => handler.fetch(request, env);
  const onError = (error: unknown): void => {
    try {
      options.onError?.(error);
    } catch {
      // A failing report must not keep the request from being answered.
    }
  };
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const aborted = new AbortController();
    const abort = (): void => {
      if (!res.writableFinished) aborted.abort(new Error('The client closed the connection'));
    };
    res.once('close', abort);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : requestBody(req);
    // node:http drains a body nobody started reading by itself, not one the handler read in part.
    res.once('finish', () => void body?.discardRest());

    let request: Request;
    try {
      request = new Request(requestUrl(req), {
        method: req.method ?? 'GET',
        headers: requestHeaders(req.rawHeaders),
        signal: aborted.signal,
        ...(body ? { body: body.stream, duplex: 'half' } : {}),
      });
    } catch {
      // What `fetch` cannot express (a TRACE request, a header value it refuses) is the client's mistake.
      return failure(res, problem('invalid_request', 400, 'The request cannot be read'));
    }
    let response: Response;
    try {
      response = await fetch(request, { incoming: req, outgoing: res });
    } catch (error) {
      onError(error);
      return failure(res, problem('internal', 500));
    }
    await writeResponse(response, res, onError);
  };
  return (req, res) => {
    answer(req, res).catch((error: unknown) => {
      // Only a response node:http cannot write (a malformed header or status) gets here.
      onError(error);
      res.destroy(error instanceof Error ? error : undefined);
    });
  };
}

/** The protocol's problem document, when the handler could not be asked or failed to answer. */
function failure(res: ServerResponse, document: ProblemDocument): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(document);
  res.writeHead(document.status, { 'Content-Type': MEDIA_TYPES.problem, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** A `Host` that can be a URL's authority: a name or IPv4 address, or a bracketed IPv6 one, and a port. */
const AUTHORITY = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/;

/** The request's URL: its target as sent (never resolved, so `//x/y` stays a path) on the `Host` it named. */
function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  const host = req.headers.host ?? '';
  const authority = AUTHORITY.test(host) ? host : 'localhost';
  const scheme = (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http';
  if (target.startsWith('/')) return new URL(`${scheme}://${authority}${target}`);
  // Absolute-form targets (`GET http://host/path`) are for proxies; this server reads their path.
  const absolute = new URL(target, `${scheme}://${authority}`);
  return new URL(`${scheme}://${authority}${absolute.pathname}${absolute.search}`);
}

function requestHeaders(rawHeaders: readonly string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    // HTTP/2 pseudo-headers (`:path`) are not headers of the request.
    if (!name.startsWith(':')) headers.append(name, rawHeaders[i + 1] as string);
  }
  return headers;
}

interface RequestBody {
  readonly stream: ReadableStream<Uint8Array>;
  /** Reads and drops what the handler did not read. */
  discardRest(): Promise<void>;
}

/**
 * The request body as a web stream that pulls from the socket only when the handler reads, so a
 * handler that refuses a request (401, 413 from `Content-Length`) reads nothing of it.
 */
function requestBody(req: IncomingMessage): RequestBody {
  // Stopping the iterator must not destroy the request: that would close the connection under the answer.
  const chunks: AsyncIterator<Buffer, undefined> = req.iterator({ destroyOnReturn: false });
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await chunks.next();
        if (next.done) controller.close();
        else controller.enqueue(new Uint8Array(next.value.buffer, next.value.byteOffset, next.value.byteLength));
      },
      async cancel() {
        await chunks.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  return {
    stream,
    async discardRest() {
      if (req.readableEnded || req.destroyed) return;
      await chunks.return?.();
      req.resume();
    },
  };
}

function responseHeaders(headers: Headers): OutgoingHttpHeaders {
  const outgoing: Record<string, string | string[]> = {};
  // Iterating `Headers` yields each Set-Cookie on its own and every other name once, combined.
  for (const [name, value] of headers) {
    const known = outgoing[name];
    if (known === undefined) outgoing[name] = value;
    else outgoing[name] = Array.isArray(known) ? [...known, value] : [known, value];
  }
  return outgoing;
}

async function writeResponse(
  response: Response,
  res: ServerResponse,
  onError: (error: unknown) => void,
): Promise<void> {
  if (res.destroyed) {
    await response.body?.cancel().catch(() => {});
    return;
  }
  res.writeHead(response.status, responseHeaders(response.headers));
  if (!response.body) {
    res.end();
    return;
  }
  if (response.headers.get('Content-Type')?.startsWith('text/event-stream')) res.flushHeaders();
  const reader = response.body.getReader();
  const cancel = (): void => void reader.cancel().catch(() => {});
  res.once('close', cancel);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) await drained(res);
    }
    res.end();
  } catch (error) {
    onError(error);
    res.destroy(error instanceof Error ? error : new Error('The response body failed', { cause: error }));
  } finally {
    res.off('close', cancel);
  }
}

/** Settles when the response can take more data, or when its connection is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
