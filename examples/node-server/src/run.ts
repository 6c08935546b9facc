import { isSyncError } from '@eventsync/core';
import { SqliteEventStore } from '@eventsync/sqlite';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createApp } from './app.js';
import { readTenantTokens, tokenIdentities, type TenantToken } from './tenant-tokens.js';

/** Where the program reads its settings and writes its lines; tests replace it. */
export interface RunIo {
  /**
   * The settings: `PORT`, `HOST`, `DB_PATH`, `ACME_TOKEN`, `GLOBEX_TOKEN`, `QUIET` (see {@link RUN_DEFAULTS}).
   *
   * @defaultValue `process.env`
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A line of normal output: where it listens, generated tokens, request logs. */
  readonly stdout: (line: string) => void;
  /** A line of error output. */
  readonly stderr: (line: string) => void;
  /** Stops the server gracefully when it fires. */
  readonly signal?: AbortSignal;
  /**
   * Process signals that stop the server gracefully; a second one arriving during the shutdown takes
   * its default action (the process ends at once).
   *
   * @defaultValue `[]`
   */
  readonly shutdownOn: readonly NodeJS.Signals[];
}

/** The settings used when the environment leaves them out. */
export const RUN_DEFAULTS = { port: 3000, host: '127.0.0.1', dbPath: './data/events.db' } as const;

/**
 * Runs the example server until it is stopped, and resolves with the exit code: 0 after a graceful
 * stop, 1 when it cannot start (database, port), 2 for a bad setting in the environment.
 *
 * @example
 * ```ts
 * process.exitCode = await run({ shutdownOn: ['SIGINT', 'SIGTERM'] });
 * ```
 */
export async function run(options: Partial<RunIo> = {}): Promise<number> {
  const io: RunIo = {
    env: process.env,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    shutdownOn: [],
    ...options,
  };
  const fail = (code: number, message: string): number => {
    io.stderr(`node-server: ${message}`);
    return code;
  };

  const port = parsePort(io.env.PORT);
  if (port === undefined) return fail(2, `PORT must be a number from 0 to 65535, got ${JSON.stringify(io.env.PORT)}`);
  const host = io.env.HOST?.trim() || RUN_DEFAULTS.host;
  let tokens: TenantToken[];
  try {
    tokens = readTenantTokens(io.env);
  } catch (error) {
    if (!isSyncError(error)) throw error;
    return fail(2, error.message);
  }

  const dbPath = resolve(io.env.DB_PATH?.trim() || RUN_DEFAULTS.dbPath);
  let store: SqliteEventStore;
  try {
    mkdirSync(dirname(dbPath), { recursive: true });
    store = await SqliteEventStore.open({ path: dbPath });
  } catch (error) {
    return fail(1, `cannot open the database ${dbPath}: ${messageOf(error)}`);
  }

  const quiet = io.env.QUIET !== undefined && io.env.QUIET !== '' && io.env.QUIET !== '0';
  const app = createApp({
    store,
    tokens: tokenIdentities(tokens),
    ...(quiet ? {} : { logger: (entry) => io.stdout(JSON.stringify(entry)) }),
  });
  let url: string;
  try {
    url = await app.listen(port, host);
  } catch (error) {
    await app.close();
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'EADDRINUSE' ? ' (is another server running? choose another with PORT)' : '';
    return fail(1, `cannot listen on ${host}:${port}: ${messageOf(error)}${hint}`);
  }

  io.stdout(`node-server: serving ${dbPath} at ${url}`);
  io.stdout(
    `node-server: sync endpoint ${url}${app.syncPath} (the clients' baseUrl); app routes /, /health, /api/stats`,
  );
  for (const { tenant, variable, token, generated } of tokens) {
    io.stdout(
      generated
        ? `node-server: tenant ${tenant}: token generated (set ${variable} to keep one across restarts): ${token}`
        : `node-server: tenant ${tenant}: token from ${variable}`,
    );
  }
  const first = tokens[0] as TenantToken;
  const shown = first.generated ? first.token : `$${first.variable}`;
  io.stdout(`node-server: try  curl -H "Authorization: Bearer ${shown}" ${url}/api/stats`);
  io.stdout('node-server: press Ctrl-C to stop');

  const reason = await stopRequested(io);
  io.stdout(`node-server: stopping (${reason}): ending streams, finishing requests`);
  await app.close();
  io.stdout('node-server: stopped');
  return 0;
}

/** Settles with what asked the server to stop: `io.signal`, or one of `io.shutdownOn`. */
function stopRequested(io: RunIo): Promise<string> {
  return new Promise((resolve) => {
    const listeners = new Map<NodeJS.Signals, () => void>();
    const stop = (reason: string): void => {
      io.signal?.removeEventListener('abort', onAbort);
      for (const [signal, listener] of listeners) process.off(signal, listener);
      resolve(reason);
    };
    const onAbort = (): void => stop('aborted');
    if (io.signal?.aborted) return stop('aborted');
    io.signal?.addEventListener('abort', onAbort, { once: true });
    for (const signal of io.shutdownOn) {
      const listener = (): void => stop(signal);
      listeners.set(signal, listener);
      process.once(signal, listener);
    }
  });
}

function parsePort(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return RUN_DEFAULTS.port;
  if (!/^[0-9]{1,5}$/.test(text.trim())) return undefined;
  const port = Number(text.trim());
  return port <= 65_535 ? port : undefined;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
