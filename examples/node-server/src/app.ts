import { SyncError, type ServerEventLog } from '@eventsync/core';
import {
  closeGracefully,
  bearerTokens,
  createSyncHandler,
  nodeListener,
  type Identity,
  type RequestLogger,
  type SyncHandler,
} from '@eventsync/server';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Options of {@link createApp}. */
export interface AppOptions {
  /**
   * The server log the sync endpoint and `/api/stats` read. The app owns it: {@link App.close} closes
   * it last, once no request can reach it any more. Required.
   */
  readonly store: ServerEventLog;
  /** The bearer tokens, each naming its principal and tenant (see `tokenIdentities`). Required. */
  readonly tokens: ReadonlyMap<string, Identity<string>>;
  /**
   * Where the sync endpoint is mounted: clients use `<url><syncPath>` as their base URL, and the
   * protocol's paths follow it (`/sync/v1/events`).
   *
   * @defaultValue `'/sync'`
   */
  readonly syncPath?: string;
  /**
   * The sync endpoint's request log: `'console'` for one JSON line per request, or a function.
   *
   * @defaultValue none
   */
  readonly logger?: RequestLogger | 'console';
  /**
   * How long a shutdown waits for requests in flight before cutting their connections, in milliseconds.
   *
   * @defaultValue 10000
   */
  readonly shutdownTimeoutMs?: number;
}

/** The defaults of {@link AppOptions}. */
export const DEFAULT_APP_OPTIONS = { syncPath: '/sync', shutdownTimeoutMs: 10_000 } as const;

/** What `/api/stats` answers: the caller's tenant only. */
export interface TenantStats {
  readonly tenant: string;
  /** How many events the tenant's log holds: its versions are gapless, so this is its latest version. */
  readonly events: number;
  readonly latestVersion: string;
  /** Live streams of this tenant open on this server now. */
  readonly streams: number;
}

/** A node:http server with the sync endpoint mounted beside routes of its own. */
export interface App {
  /** The node:http server; listening once {@link App.listen} resolved. */
  readonly server: Server;
  /** The sync handler mounted at {@link App.syncPath} (its broker, metrics, limits). */
  readonly handler: SyncHandler;
  readonly syncPath: string;
  /**
   * Starts listening and resolves with the server's URL, e.g. `http://127.0.0.1:3000`.
   *
   * @param port - `0` takes any free port.
   * @param host - `127.0.0.1` keeps the server on this machine; `0.0.0.0` opens it to the network.
   */
  listen(port: number, host: string): Promise<string>;
  /**
   * Shuts down gracefully: stops accepting connections; answers `503` to requests that still
   * arrive on open connections; ends every live stream (clients resume from their last id); waits
   * for the requests in flight, sync or not, to finish (cutting them after `shutdownTimeoutMs`);
   * then closes the store. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Makes the example's server: the eventsync sync endpoint under `syncPath`, authenticated by bearer
 * tokens that each name a tenant, beside the application's own routes:
 *
 * - `GET /`: a page saying what is served here;
 * - `GET /health`: `{ "status": "ok" }` while the store answers, `503` otherwise or when shutting
 *   down; no credentials, for a load balancer;
 * - `GET /api/stats`: the caller's tenant's event count and open streams, with the same tokens as
 *   the sync endpoint, so a tenant sees its own numbers only.
 *
 * @throws SyncError `invalid_input` for a malformed token or identity, or a `syncPath` that does not
 *   start with `/` or ends with one.
 *
 * @example
 * ```ts
 * const app = createApp({ store: new SqliteEventStore({ path: './data/events.db' }), tokens });
 * console.log(await app.listen(3000, '127.0.0.1'));
 * process.once('SIGTERM', () => void app.close());
 * ```
 */
export function createApp(options: AppOptions): App {
  const { store, tokens } = options;
  const syncPath = options.syncPath ?? DEFAULT_APP_OPTIONS.syncPath;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_APP_OPTIONS.shutdownTimeoutMs;
  // The handler takes '' for "no prefix"; here it would hide the app's own routes.
  if (!/^\/[^?#]*[^/?#]$/.test(syncPath)) {
    throw new SyncError(
      'invalid_input',
      `syncPath must start with / and not end with one, got ${JSON.stringify(syncPath)}`,
      {
        details: { field: 'syncPath' },
      },
    );
  }
  // One authenticate for the sync endpoint and the app's own API: the same tokens, the same tenants.
  const authenticate = bearerTokens(tokens);
  const handler = createSyncHandler<string>({
    store,
    authenticate,
    basePath: syncPath,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const sync = nodeListener(handler, {
    onError: (error) => console.error('node-server: the sync handler failed:', error),
  });
  const tenants = [...new Set([...tokens.values()].map((identity) => identity.tenant))].sort();

  let closing: Promise<void> | undefined;
  let open = 0;
  let allDone: (() => void) | undefined;

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === syncPath || path.startsWith(`${syncPath}/`)) return sync(req, res);
    const methods = ROUTES[path];
    if (!methods) return problem(res, 404, 'not_found', `No route for ${path}`);
    if (!methods.includes(req.method ?? '')) {
      return problem(res, 405, 'method_not_allowed', `${path} takes ${methods.join(', ')}`, {
        Allow: methods.join(', '),
      });
    }
    if (closing) return send(res, 503, 'application/json', '{"status":"shutting down"}', { 'Retry-After': '1' });
    switch (path) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', homePage(req.headers.host ?? 'localhost', syncPath, tenants));
      case '/health':
        try {
          await store.latestVersion(tenants[0] ?? 'health');
          return send(res, 200, 'application/json', '{"status":"ok"}');
        } catch {
          return send(res, 503, 'application/json', '{"status":"unavailable"}', { 'Retry-After': '5' });
        }
      case '/api/stats': {
        const identity = await authenticate(toRequest(req));
        if (!identity) {
          return problem(res, 401, 'unauthorized', 'Send Authorization: Bearer <token> of a tenant', {
            'WWW-Authenticate': req.headers.authorization ? `${CHALLENGE}, error="invalid_token"` : CHALLENGE,
          });
        }
        const latest = await store.latestVersion(identity.tenant);
        const stats: TenantStats = {
          tenant: identity.tenant,
          events: Number(latest.value),
          latestVersion: latest.toString(),
          streams: handler.broker.statsByTenant[identity.tenant]?.subscribers ?? 0,
        };
        return send(res, 200, 'application/json', JSON.stringify(stats));
      }
    }
  }

  const server = createServer((req, res) => {
    open++;
    res.once('close', () => {
      if (--open === 0) allDone?.();
    });
    // While shutting down, every answer also closes its connection.
    if (closing) res.setHeader('Connection', 'close');
    route(req, res, pathOf(req.url)).catch((error: unknown) => {
      console.error('node-server: a request failed:', error);
      if (!res.headersSent) problem(res, 500, 'internal', 'Something went wrong');
      else res.destroy();
    });
  });

  const allRequestsDone = (timeoutMs: number): Promise<void> => {
    if (open === 0) return Promise.resolve();
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      new Promise<void>((resolve) => (allDone = resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]).finally(() => clearTimeout(timer));
  };

  return {
    server,
    handler,
    syncPath,
    async listen(port, host) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return `http://${shown}:${address.port}`;
    },
    close() {
      closing ??= (async () => {
        try {
          await closeGracefully(server, {
            timeoutMs: shutdownTimeoutMs,
            drain: async (remainingMs) => {
              const deadline = Date.now() + remainingMs;
              // Streams end and sync requests drain; new sync requests are answered 503.
              await handler.close({ timeoutMs: remainingMs });
              // Then every response of the server, sync or not, until its last byte is written.
              await allRequestsDone(Math.max(0, deadline - Date.now()));
            },
          });
        } finally {
          await store.close();
        }
      })();
      return closing;
    },
  };
}

/** The challenge of a `401`, the sync endpoint's: the same tokens open both. */
const CHALLENGE = 'Bearer realm="eventsync"';

const ROUTES: Readonly<Record<string, readonly string[]>> = {
  '/': ['GET', 'HEAD'],
  '/health': ['GET', 'HEAD'],
  '/api/stats': ['GET', 'HEAD'],
};

/** The path of a request target, without its query; `//x` stays a path, never a host. */
function pathOf(target: string | undefined): string {
  const path = (target ?? '/').split('?', 1)[0] as string;
  return path.startsWith('/') ? path : new URL(path, 'http://localhost').pathname;
}

/** Enough of a `Request` for `authenticate`, which reads the `Authorization` header. */
function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  if (req.headers.authorization !== undefined) headers.set('Authorization', req.headers.authorization);
  return new Request(`http://localhost${pathOf(req.url)}`, { headers });
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

/** An `application/problem+json` answer with a stable `code`, like the sync endpoint's. */
function problem(
  res: ServerResponse,
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
): void {
  const body = { type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, code };
  send(res, status, 'application/problem+json', JSON.stringify(body), headers);
}

const TITLES: Readonly<Record<number, string>> = {
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  500: 'Internal Server Error',
};

function homePage(host: string, syncPath: string, tenants: readonly string[]): string {
  const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const sync = escape(syncPath);
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>eventsync node-server example</title>
<h1>eventsync inside a node:http app</h1>
<p>Tenants: ${tenants.map((tenant) => `<code>${escape(tenant)}</code>`).join(', ')}. Each bearer token belongs to one tenant and sees that tenant's events only.</p>
<ul>
  <li><code>GET /health</code>: the app's health check, no credentials</li>
  <li><code>GET /api/stats</code>: your tenant's event count and open streams (<code>Authorization: Bearer &lt;token&gt;</code>)</li>
  <li><code>${sync}/v1/events</code>, <code>${sync}/v1/version</code>, <code>${sync}/v1/stream</code>, <code>${sync}/v1/health</code>: the eventsync sync endpoint (see docs/protocol.md); clients use <code>${sync}</code> as their base URL</li>
</ul>
<pre>curl -H "Authorization: Bearer $ACME_TOKEN" http://${escape(host)}${sync}/v1/events?since=0</pre>
</html>
`;
}
