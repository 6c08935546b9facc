import { SyncError } from '@eventsync/core';
import { MEDIA_TYPES } from '@eventsync/http';
import type { Context, MiddlewareHandler } from 'hono';
import { accepts } from 'hono/accepts';
import { bearerTokenMatcher, hasCredentials, identify, type Authenticate, type Identity } from './authentication.js';
import type { SyncEnv } from './sync-handler.js';
import type { SyncMetrics, SyncMetricsOptions } from './sync-metrics.js';

/**
 * Options of the metrics endpoint, `GET /v1/metrics` (JSON, or the Prometheus text for `Accept:
 * text/plain`) and `GET /metrics` (the Prometheus text). Give `token`, `allow` or both: a request
 * may read the metrics when either lets it. Without this option the endpoint does not exist (`404`).
 */
export interface MetricsOptions<P = unknown> extends SyncMetricsOptions {
  /**
   * A bearer token that reads the metrics and nothing else (a Prometheus scraper's
   * `authorization.credentials`), compared by its SHA-256 digest.
   *
   * @defaultValue none
   */
  readonly token?: string;
  /**
   * Which callers that `authenticate` (or `tokens`) knows may read the metrics, e.g. administrators:
   * `({ principal }) => principal.role === 'admin'`. Others are answered `403 forbidden`.
   *
   * @defaultValue none: no tenant's credentials read the metrics
   */
  readonly allow?: (identity: Identity<P>) => boolean | Promise<boolean>;
}

/** The paths of the metrics endpoint (under the handler's `basePath`). */
export const METRICS_PATHS = {
  /**
   * `GET /v1/metrics`: the JSON snapshot, or the Prometheus text when `Accept` prefers `text/plain`
   * (or OpenMetrics).
   */
  json: '/v1/metrics',
  /** `GET /metrics`: always the Prometheus text, at the path Prometheus scrapes by default. */
  prometheus: '/metrics',
} as const;

/**
 * The middleware that lets a request read the metrics: the metrics token, or an identity `allow`
 * accepts; else `401 unauthorized` (with the challenge) or `403 forbidden`.
 *
 * @throws SyncError `invalid_input` for options that let nobody in, or a malformed token.
 */
export function metricsGuard<P>(options: MetricsOptions<P>, authenticate: Authenticate<P>): MiddlewareHandler<SyncEnv> {
  const { token, allow } = options;
  if (token === undefined && allow === undefined) {
    throw new SyncError(
      'invalid_input',
      'metrics needs a token or an allow function (leave metrics out to serve no metrics endpoint)',
      { details: { field: 'metrics' } },
    );
  }
  if (allow !== undefined && typeof allow !== 'function') {
    throw new SyncError('invalid_input', 'metrics.allow must be a function of the identity', {
      details: { field: 'metrics.allow' },
    });
  }
  const matchesToken = token === undefined ? undefined : bearerTokenMatcher(token, 'metrics.token');
  return async (c, next) => {
    if (matchesToken && (await matchesToken(c.req.raw))) {
      await next();
      return;
    }
    if (allow) {
      const identity = await identify(authenticate, c.req.raw);
      if (identity) {
        c.set('identity', identity);
        if ((await allow(identity)) !== true) {
          throw new SyncError('forbidden', 'These credentials may not read the metrics');
        }
        await next();
        return;
      }
    }
    throw new SyncError(
      'unauthorized',
      hasCredentials(c.req.raw) ? 'The credentials are not valid' : 'This request needs credentials',
    );
  };
}

const PROMETHEUS = 'text/plain';

/**
 * The metrics as JSON, or in the Prometheus text format when `prometheus` is set or the request
 * prefers `text/plain` (or OpenMetrics, which is answered with the Prometheus text).
 */
export async function metricsResponse(
  c: Context<SyncEnv>,
  metrics: SyncMetrics,
  prometheus: boolean,
): Promise<Response> {
  const type = prometheus
    ? PROMETHEUS
    : accepts(c, {
        header: 'Accept',
        supports: [MEDIA_TYPES.json, PROMETHEUS, 'application/openmetrics-text'],
        default: MEDIA_TYPES.json,
      });
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (!prometheus) headers.Vary = 'Accept';
  if (type === MEDIA_TYPES.json) {
    return c.body(JSON.stringify(metrics.snapshot()), 200, { ...headers, 'Content-Type': MEDIA_TYPES.json });
  }
  const { contentType, text } = await metrics.prometheus();
  return c.body(text, 200, { ...headers, 'Content-Type': contentType });
}
