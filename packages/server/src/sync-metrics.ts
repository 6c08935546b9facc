import type { Registry } from 'prom-client';
import type { Broker, BrokerStats } from './broker.js';
import type { StoreStats } from './counted-event-log.js';
import { DISCONNECT_REASONS } from './subscriber.js';

/** Options of {@link SyncMetrics}. */
export interface SyncMetricsOptions {
  /**
   * Labels the stream series of the Prometheus text by `tenant`. Each tenant then adds a handful of
   * series, and whoever reads the metrics sees tenant names; the JSON always has them per tenant.
   *
   * @defaultValue `false`
   */
  readonly tenantLabels?: boolean;
}

/** The stream broker's counters, over all tenants and per tenant. */
export interface StreamMetrics extends BrokerStats {
  /**
   * The same counters per tenant, keyed by tenant, for every tenant that has had a subscriber since
   * the broker started (`broker.statsByTenant`).
   */
  readonly tenants: Readonly<Record<string, BrokerStats>>;
}

/** Everything {@link SyncMetrics} counts, as `GET /v1/metrics` answers it in JSON. */
export interface SyncMetricsSnapshot {
  /** The stream broker: subscribers, batches and events published, delivered, disconnections by reason. */
  readonly stream: StreamMetrics;
  /**
   * Requests answered, by `"<METHOD> <route>"` then status: `{ "POST /v1/events": { "200": 12,
   * "413": 1 } }`. The route is the protocol's path without any prefix; `other` gathers unknown
   * paths, CORS preflights and requests refused while shutting down.
   */
  readonly requests: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Calls to the server log, by the handler and its broker. */
  readonly store: StoreStats;
}

/** Where {@link SyncMetrics} finds what it reports. */
export interface MetricsSources {
  /** The stream broker whose counters (`stats`, `statsByTenant`) make the `stream` part. */
  readonly broker: Broker;
  /** The server log whose call counts make the `store` part: in a sync handler, its counting wrapper of `store`. */
  readonly store: {
    /** The calls counted so far, read at every snapshot and every scrape. */
    readonly stats: StoreStats;
  };
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

type Labels = Record<string, string | number>;
type Series = Iterable<readonly [Labels, number]>;

/**
 * The counters of one sync handler (`handler.metrics`): its stream broker's, its requests by route
 * and status, and its calls to the server log. Read them as JSON with {@link snapshot}, or in the
 * Prometheus text format from a `prom-client` registry of this handler's own ({@link registry}):
 * never the global default registry, so several handlers in one process do not clash.
 *
 * `prom-client` is loaded on the first Prometheus read, so a handler that never serves that format
 * never loads it (it pulls in Node built-ins that some fetch runtimes lack).
 *
 * @example
 * ```ts
 * handler.metrics.snapshot(); // { stream, requests, store }
 * const registry = await handler.metrics.registry();
 * collectDefaultMetrics({ register: registry }); // add the process's own metrics to the same text
 * ```
 */
export class SyncMetrics {
  readonly #sources: MetricsSources;
  readonly #tenantLabels: boolean;
  /** Counts by `"<METHOD> <route>"`, then status. */
  readonly #requests = new Map<string, Map<number, number>>();
  #registry: Promise<Registry> | undefined;

  constructor(sources: MetricsSources, options: SyncMetricsOptions = {}) {
    this.#sources = sources;
    this.#tenantLabels = options.tenantLabels ?? false;
  }

  /** Counts one request answered. Methods other than the usual ones count as `OTHER`. */
  countRequest(method: string, route: string, status: number): void {
    const key = `${METHODS.has(method) ? method : 'OTHER'} ${route}`;
    let statuses = this.#requests.get(key);
    if (!statuses) this.#requests.set(key, (statuses = new Map<number, number>()));
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }

  /** Every counter now, as plain data. */
  snapshot(): SyncMetricsSnapshot {
    const requests: Record<string, Record<string, number>> = {};
    for (const [key, statuses] of this.#requests) requests[key] = Object.fromEntries(statuses);
    const { broker, store } = this.#sources;
    return { stream: { ...broker.stats, tenants: broker.statsByTenant }, requests, store: store.stats };
  }

  /** This handler's `prom-client` registry, made on first use; its metrics read the counters at each scrape. */
  registry(): Promise<Registry> {
    this.#registry ??= import('prom-client').then(
      (prom) => this.#build(prom),
      (error: unknown) => {
        this.#registry = undefined;
        throw error;
      },
    );
    return this.#registry;
  }

  /** The metrics in the Prometheus text format, with its content type. */
  async prometheus(): Promise<{
    /**
     * The `Content-Type` of `text`, the registry's: `text/plain; version=0.0.4; charset=utf-8` (the
     * Prometheus text format) unless `registry.setContentType` switched it to OpenMetrics.
     */
    readonly contentType: string;
    /** Every metric of the registry, in that format, as a scrape reads it. */
    readonly text: string;
  }> {
    const registry = await this.registry();
    return { contentType: registry.contentType, text: await registry.metrics() };
  }

  #build(prom: typeof import('prom-client')): Registry {
    const registry = new prom.Registry();
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: readonly string[], series: () => Series): void => {
      new prom.Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          for (const [labels, value] of series()) this.inc(labels, value);
        },
      });
    };
    const tenant = this.#tenantLabels ? ['tenant'] : [];
    const stream = (): [Labels, BrokerStats][] =>
      this.#tenantLabels
        ? Object.entries(this.#sources.broker.statsByTenant).map(([name, stats]) => [{ tenant: name }, stats])
        : [[{}, this.#sources.broker.stats]];
    const streamSeries = (field: 'published' | 'publishedEvents' | 'delivered') => (): Series =>
      stream().map(([labels, stats]) => [labels, stats[field]]);

    new prom.Gauge({
      name: 'eventsync_stream_subscribers',
      help: 'Stream subscribers open now.',
      labelNames: tenant,
      registers,
      collect() {
        this.reset();
        for (const [labels, stats] of stream()) this.set(labels, stats.subscribers);
      },
    });
    counter(
      'eventsync_stream_published_batches_total',
      'Batches handed to stream subscribers, one per batch per subscriber.',
      tenant,
      streamSeries('published'),
    );
    counter(
      'eventsync_stream_published_events_total',
      'Events in the batches handed to stream subscribers.',
      tenant,
      streamSeries('publishedEvents'),
    );
    counter(
      'eventsync_stream_delivered_batches_total',
      'Batches written out by the stream subscribers’ transports.',
      tenant,
      streamSeries('delivered'),
    );
    counter(
      'eventsync_stream_disconnected_total',
      'Stream subscriptions ended, by reason: slow (cut off for falling behind), closed, error.',
      ['reason', ...tenant],
      () =>
        stream().flatMap(([labels, stats]) =>
          DISCONNECT_REASONS.map((reason) => [{ ...labels, reason }, stats.disconnectedBy[reason]] as const),
        ),
    );
    counter(
      'eventsync_http_requests_total',
      'Requests answered, by method, route and status.',
      ['method', 'route', 'status'],
      () =>
        [...this.#requests].flatMap(([key, statuses]) => {
          const [method = '', route = ''] = key.split(' ');
          return [...statuses].map(([status, count]) => [{ method, route, status }, count] as const);
        }),
    );
    const storeSeries = (field: 'calls' | 'failures' | 'events') => (): Series => {
      const stats = this.#sources.store.stats;
      const series: [Labels, number][] = [
        [{ operation: 'append' }, stats.append[field]],
        [{ operation: 'read' }, stats.read[field]],
      ];
      if (field !== 'events') series.push([{ operation: 'latest_version' }, stats.latestVersion[field]]);
      return series;
    };
    counter(
      'eventsync_store_calls_total',
      'Calls to the server log, by operation.',
      ['operation'],
      storeSeries('calls'),
    );
    counter(
      'eventsync_store_failures_total',
      'Calls to the server log that failed, by operation.',
      ['operation'],
      storeSeries('failures'),
    );
    counter(
      'eventsync_store_events_total',
      'Events stored by appends and returned by reads.',
      ['operation'],
      storeSeries('events'),
    );
    return registry;
  }
}
