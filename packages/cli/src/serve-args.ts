import { parseArgs } from 'node:util';

/** What `eventsync serve` was asked to do. */
export interface ServeArgs {
  /** The SQLite file (used when no PostgreSQL URL is given). */
  readonly db: string;
  /** A PostgreSQL connection URL: serve from PostgreSQL instead of SQLite. */
  readonly postgres?: string;
  /** The TCP port to listen on, 0 to 65535; 0 takes any free one. */
  readonly port: number;
  /** The interface to listen on, e.g. `127.0.0.1` (this machine only) or `0.0.0.0` (the network). */
  readonly host: string;
  /** Token → tenant; empty when none was given (one is then generated). */
  readonly tokens: ReadonlyMap<string, string>;
  /** The tenant of tokens given without one. */
  readonly tenant: string;
  /** Origins allowed by CORS (`*` for any); empty for none. */
  readonly cors: readonly string[];
  /** Whether to print a JSON line per request. */
  readonly log: boolean;
  /** A bearer token that may read `/v1/metrics` and `/metrics`; none: no metrics endpoint. */
  readonly metricsToken?: string;
  /** A folder of a built web app to serve beside the endpoint, from the same origin. */
  readonly static?: string;
  /** How long an idle kept-alive connection stays open, in milliseconds (`serve`'s `keepAliveTimeoutMs`). */
  readonly keepAliveTimeoutMs?: number;
}

/** Defaults of `eventsync serve`. */
export const DEFAULT_SERVE_ARGS = {
  /** `--db`: the SQLite file, relative to the working directory. */
  db: './data/eventsync.db',
  /** `--port`: the TCP port. */
  port: 8787,
  /** `--host`: this machine only. */
  host: '127.0.0.1',
  /** `--tenant`: the tenant of tokens given without one. */
  tenant: 'default',
} as const;

/** A mistake on the command line: printed with the usage hint, exit code 2. */
export class UsageError extends Error {
  /** Always `'UsageError'`. */
  override readonly name = 'UsageError';
}

/** The help of `eventsync serve`, printed by `eventsync serve --help`: every option and its default. */
export const SERVE_USAGE = `Usage: eventsync serve [options]

Serves an eventsync sync endpoint (docs/protocol.md) over a SQLite event log, or over PostgreSQL so
that several servers can share one database.

Options:
  --db <path>        the SQLite file, created with its folder when missing (default: ${DEFAULT_SERVE_ARGS.db})
  --postgres <url>   serve from PostgreSQL instead (postgres://user@host:port/database); also read from
                     EVENTSYNC_POSTGRES_URL. The schema is created or migrated on start.
  --port <n>         the TCP port, 0 for any free one (default: ${DEFAULT_SERVE_ARGS.port})
  --host <address>   the interface to listen on; 0.0.0.0 opens it to the network (default: ${DEFAULT_SERVE_ARGS.host})
  --token <t>        a bearer token clients must send; <tenant>:<token> gives it its tenant.
                     Repeatable. Also read from EVENTSYNC_TOKENS (separated by commas or spaces),
                     which keeps tokens out of the process list. Without any, a random token is
                     generated for the default tenant and printed.
  --tenant <name>    the tenant of tokens given without one (default: ${DEFAULT_SERVE_ARGS.tenant})
  --cors <origin>    lets browser pages on this origin call the server; * for any. Repeatable.
  --metrics-token <t> serves the counters at /v1/metrics (JSON) and /metrics (Prometheus) to this bearer
                     token; also read from EVENTSYNC_METRICS_TOKEN. Without it there is no metrics endpoint.
  --static <dir>     also serves the web app built in this folder (it must hold an index.html) at /,
                     from the same origin as the endpoint; /v1/ and /metrics stay the endpoint's
  --keep-alive-timeout <ms>
                     how long an idle kept-alive connection stays open (default: 5000). Behind a load
                     balancer, make it longer than the balancer's idle timeout (65000 for 60 s)
  --quiet            no request logs (by default one JSON line per request on standard output)
  -h, --help         this help

Stops gracefully on SIGINT (Ctrl-C) or SIGTERM.`;

const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Parses the arguments of `eventsync serve` (after the word `serve`).
 *
 * @param env - the environment, for `EVENTSYNC_TOKENS`.
 * @throws UsageError for unknown options, missing values, a bad port, a bad token or tenant.
 */
export function parseServeArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ServeArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        db: { type: 'string' },
        postgres: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        token: { type: 'string', multiple: true },
        tenant: { type: 'string' },
        cors: { type: 'string', multiple: true },
        quiet: { type: 'boolean' },
        'metrics-token': { type: 'string' },
        static: { type: 'string' },
        'keep-alive-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';
  const db = values.db ?? DEFAULT_SERVE_ARGS.db;
  if (db.trim() === '') throw new UsageError('--db needs a file path');
  const postgres = values.postgres ?? env.EVENTSYNC_POSTGRES_URL;
  if (postgres !== undefined && !/^postgres(ql)?:\/\//.test(postgres)) {
    throw new UsageError('--postgres needs a URL like postgres://user@127.0.0.1:5432/database');
  }
  if (postgres !== undefined && values.db !== undefined) throw new UsageError('Give --db or --postgres, not both');
  const port = parsePort(values.port);
  const host = values.host ?? DEFAULT_SERVE_ARGS.host;
  if (host.trim() === '') throw new UsageError('--host needs an address, e.g. 127.0.0.1');
  const tenant = values.tenant ?? DEFAULT_SERVE_ARGS.tenant;
  checkTenantName(tenant, '--tenant');
  const given = [...(values.token ?? []), ...(env.EVENTSYNC_TOKENS ?? '').split(/[\s,]+/).filter(Boolean)];
  const tokens = new Map<string, string>();
  for (const entry of given) {
    const colon = entry.indexOf(':');
    const [tokenTenant, token] = colon < 0 ? [tenant, entry] : [entry.slice(0, colon), entry.slice(colon + 1)];
    checkTenantName(tokenTenant, `the tenant of token ${mask(token)}`);
    if (!TOKEN.test(token)) {
      throw new UsageError(
        `A token is made of A-Z a-z 0-9 - . _ ~ + / (and = at the end), optionally after <tenant>:; got ${JSON.stringify(mask(entry))}`,
      );
    }
    const known = tokens.get(token);
    if (known !== undefined && known !== tokenTenant) {
      throw new UsageError(`Token ${mask(token)} is given for two tenants (${known} and ${tokenTenant})`);
    }
    tokens.set(token, tokenTenant);
  }
  const metricsToken = values['metrics-token'] ?? env.EVENTSYNC_METRICS_TOKEN;
  if (metricsToken !== undefined && !TOKEN.test(metricsToken)) {
    throw new UsageError('--metrics-token is made of A-Z a-z 0-9 - . _ ~ + / (and = at the end)');
  }
  if (values.static !== undefined && values.static.trim() === '') throw new UsageError('--static needs a folder');
  const keepAlive = values['keep-alive-timeout'];
  const keepAliveTimeoutMs = keepAlive === undefined ? undefined : parseMilliseconds(keepAlive, '--keep-alive-timeout');
  return {
    db,
    ...(keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs }),
    ...(values.static === undefined ? {} : { static: values.static }),
    ...(metricsToken === undefined ? {} : { metricsToken }),
    ...(postgres === undefined ? {} : { postgres }),
    port,
    host,
    tokens,
    tenant,
    cors: values.cors ?? [],
    log: !values.quiet,
  };
}

/** A token shortened for messages: its first 4 characters. */
export function mask(token: string): string {
  return token.length <= 4 ? '****' : `${token.slice(0, 4)}…`;
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return DEFAULT_SERVE_ARGS.port;
  const port = /^[0-9]{1,5}$/.test(text) ? Number(text) : Number.NaN;
  if (!(port >= 0 && port <= 65_535))
    throw new UsageError(`--port must be a number from 0 to 65535, got ${JSON.stringify(text)}`);
  return port;
}

function parseMilliseconds(text: string, option: string): number {
  const value = /^[0-9]{1,10}$/.test(text) ? Number(text) : Number.NaN;
  if (!(value >= 1 && value <= MAX_TIMEOUT_MS)) {
    throw new UsageError(
      `${option} must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

/** The longest delay a Node timer takes (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMEOUT_MS = 2_147_483_647;

function checkTenantName(tenant: string, what: string): void {
  if (tenant.length === 0 || tenant.length > 256) {
    throw new UsageError(`${what} must be 1 to 256 characters, got ${JSON.stringify(tenant)}`);
  }
}
