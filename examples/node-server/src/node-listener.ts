import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

/** A web-standard handler: a sync handler's `fetch`, a Hono app's, or any function of `Request` to `Response`. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Options of {@link nodeListener}. */
export interface NodeListenerOptions {
  /**
   * Told of a failure the listener answered with a bare `500` (the handler threw) or cut the
   * connection over (the response body failed midway, or node:http refused the response's headers).
   *
   * @defaultValue none
   */
  readonly onError?: (error: unknown) => void;
}

/**
 * Turns a web-standard handler into a `node:http` request listener, so it can answer some of the
 * requests of a server you made yourself:
 *
 * - the `Request` has the method, the URL (path and query as sent, host from `Host`), every header,
 *   and for methods other than GET and HEAD the body as a stream, read only as the handler reads it;
 * - its `signal` fires when the client goes away before the response is done, which is what ends a
 *   Server-Sent Events subscription on the server;
 * - the `Response` body is streamed out with backpressure (a slow reader slows the stream rather
 *   than filling memory), a `text/event-stream` response has its headers sent at once, and the body
 *   is cancelled when the connection closes.
 *
 * `@eventsync/server` runs its own node:http server in `serve`, through `@hono/node-server`, but has
 * no public listener to put inside an existing one; this is that piece, with no dependency.
 *
 * @example
 * ```ts
 * const sync = nodeListener(handler.fetch);
 * createServer((req, res) => (req.url?.startsWith('/sync/') ? sync(req, res) : myRoutes(req, res)));
 * ```
 */
export function nodeListener(
  fetch: FetchHandler,
  options: NodeListenerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const aborted = new AbortController();
    const abort = (): void => {
      if (!res.writableFinished) aborted.abort(new Error('The client closed the connection'));
    };
    res.once('close', abort);
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : requestBody(req);
    // Whatever of the body the handler left unread is read and dropped, so a kept-alive connection
    // can carry the next request (node:http does this itself only for bodies nobody started reading).
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
      return failure(res, 400, 'Bad Request', 'invalid_request');
    }
    let response: Response;
    try {
      response = await fetch(request);
    } catch (error) {
      options.onError?.(error);
      return failure(res, 500, 'Internal Server Error', 'internal');
    }
    await writeResponse(response, res, options.onError);
  };
  return (req, res) => {
    answer(req, res).catch((error: unknown) => {
      // Only a response the handler made that node:http cannot write (a malformed header) gets here.
      options.onError?.(error);
      res.destroy(error instanceof Error ? error : undefined);
    });
  };
}

/** A bare problem document, when the handler could not be asked or failed to answer. */
function failure(res: ServerResponse, status: number, title: string, code: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'Content-Type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, code }));
}

/** The request's URL: its target as sent (never resolved, so `//x/y` stays a path) on the `Host` it named. */
function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  const host = req.headers.host ?? '';
  const authority = /^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/.test(host) ? host : 'localhost';
  // Absolute-form targets (`GET http://host/path`) are for proxies; this server reads their path.
  if (target.startsWith('/')) return new URL(`http://${authority}${target}`);
  const absolute = new URL(target, `http://${authority}`);
  return new URL(`http://${authority}${absolute.pathname}${absolute.search}`);
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
  onError: ((error: unknown) => void) | undefined,
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
    onError?.(error);
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
