import { isSyncError, type ServerEventLog } from '@eventsync/core';
import { createSyncHandler, serve, type Identity, type RequestLogger, type Servable } from '@eventsync/server';
import { PostgresEventStore } from '@eventsync/postgres';
import { SqliteEventStore } from '@eventsync/sqlite';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseServeArgs, SERVE_USAGE, UsageError, type ServeArgs } from './serve-args.js';
import { staticFiles, type StaticFiles } from './static-files.js';

/** Where the command writes and what it reads besides its arguments; tests replace it. */
export interface CliIo {
  /** A line of normal output (the URL, request logs). */
  readonly stdout: (line: string) => void;
  /** A line of error output. */
  readonly stderr: (line: string) => void;
  /** The environment (`EVENTSYNC_TOKENS`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Stops a running server, like SIGTERM does. */
  readonly signal?: AbortSignal;
  /** Whether SIGINT and SIGTERM stop the server gracefully. */
  readonly handleSignals: boolean;
}

const USAGE = `Usage: eventsync <command> [options]

Commands:
  serve      serve a sync endpoint over a SQLite event log (see eventsync serve --help)
  help       this help

Options:
  -h, --help     this help
  -v, --version  the version of eventsync`;

/**
 * Runs the `eventsync` command and resolves with its exit code: 0 when done (a server stopped
 * gracefully), 1 when it could not run (port in use, database it cannot open), 2 for a mistake on
 * the command line.
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2));
 * ```
 */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const out: CliIo = {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
    handleSignals: true,
    ...io,
  };
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        out.stdout(USAGE);
        return command === undefined ? 2 : 0;
      case '-v':
      case '--version':
        out.stdout(version());
        return 0;
      case 'serve': {
        const args = parseServeArgs(rest, out.env);
        if (args === 'help') {
          out.stdout(SERVE_USAGE);
          return 0;
        }
        return await runServe(args, out);
      }
      default:
        throw new UsageError(`Unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      out.stderr(`eventsync: ${error.message}`);
      out.stderr(`Run eventsync ${command === 'serve' ? 'serve ' : ''}--help for usage.`);
      return 2;
    }
    throw error;
  }
}

async function runServe(args: ServeArgs, io: CliIo): Promise<number> {
  let files: StaticFiles | undefined;
  if (args.static !== undefined) {
    try {
      files = staticFiles(args.static);
    } catch (error) {
      io.stderr(`eventsync: cannot serve --static: ${reason(error)}`);
      return 1;
    }
  }
  let store: ServerEventLog;
  let where: string;
  if (args.postgres !== undefined) {
    where = redactUrl(args.postgres);
    try {
      store = await PostgresEventStore.open({ connectionString: args.postgres });
    } catch (error) {
      io.stderr(`eventsync: cannot use PostgreSQL at ${where}: ${reason(error)}`);
      return 1;
    }
  } else {
    const path = args.db === ':memory:' ? args.db : resolve(args.db);
    where = path;
    const problem = path === ':memory:' ? undefined : prepareDatabasePath(path);
    if (problem !== undefined) {
      io.stderr(`eventsync: cannot open the database ${path}: ${problem}`);
      return 1;
    }
    try {
      store = await SqliteEventStore.open({ path });
    } catch (error) {
      // The store's message already names the file and says what SQLite found.
      io.stderr(`eventsync: ${reason(error)}`);
      return 1;
    }
  }

  const tokens = new Map<string, Identity<string>>();
  let generated: string | undefined;
  if (args.tokens.size === 0) {
    generated = randomBytes(24).toString('base64url');
    tokens.set(generated, { principal: 'token-1', tenant: args.tenant });
  } else {
    let n = 0;
    for (const [token, tenant] of args.tokens) tokens.set(token, { principal: `token-${++n}`, tenant });
  }
  const logger: RequestLogger | undefined = args.log ? (entry) => io.stdout(JSON.stringify(entry)) : undefined;
  const handler = createSyncHandler({
    store,
    tokens,
    ...(logger ? { logger } : {}),
    ...(args.metricsToken === undefined ? {} : { metrics: { token: args.metricsToken } }),
    ...(args.cors.length > 0 ? { cors: { origin: args.cors.includes('*') ? '*' : [...args.cors] } } : {}),
  });

  const app: Servable =
    files === undefined
      ? handler
      : {
          fetch: (request, env) => files.answer(request) ?? handler.fetch(request, env),
          close: (options) => handler.close(options),
        };

  let running;
  try {
    running = await serve(app, {
      port: args.port,
      host: args.host,
      ...(args.keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs: args.keepAliveTimeoutMs }),
      ...(io.signal ? { signal: io.signal } : {}),
      shutdownOn: io.handleSignals ? ['SIGINT', 'SIGTERM'] : [],
    });
  } catch (error) {
    await handler.close({ timeoutMs: 0 });
    await store.close();
    const hint = isSyncError(error, 'unavailable') ? '; choose another with --port' : '';
    io.stderr(`eventsync: ${reason(error)}${hint}`);
    return 1;
  }

  io.stdout(`eventsync: serving ${where} at ${running.url}`);
  if (files !== undefined) io.stdout(`eventsync: the app in ${files.root} at ${running.url}/`);
  if (generated !== undefined) {
    io.stdout(`eventsync: token for tenant "${args.tenant}" (generated; choose your own with --token): ${generated}`);
    io.stdout(`eventsync: try  curl -H "Authorization: Bearer ${generated}" ${running.url}/v1/version`);
  } else {
    const tenants = [...new Set(args.tokens.values())].sort().join(', ');
    io.stdout(`eventsync: ${args.tokens.size} token(s), for tenant(s) ${tenants}`);
  }
  io.stdout('eventsync: press Ctrl-C to stop');

  await running.closed;
  await store.close();
  io.stdout('eventsync: stopped');
  return 0;
}

/** Creates the database's folder when missing; says what is wrong with the path, if anything. */
function prepareDatabasePath(path: string): string | undefined {
  // Folder by folder rather than mkdirSync's `recursive`, which loops forever on some file systems (/proc).
  const missing: string[] = [];
  for (let folder = dirname(path); ; folder = dirname(folder)) {
    const kind = kindOf(folder);
    if (kind === 'file') return `${folder} is not a folder`;
    if (kind === 'folder' || dirname(folder) === folder) break;
    missing.unshift(folder);
  }
  for (const folder of missing) {
    try {
      mkdirSync(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
        return `not allowed to create the folder ${folder}`;
      return `cannot create the folder ${folder} (${reason(error)})`;
    }
  }
  if (kindOf(path) === 'folder') return 'it is a folder; give a file path, e.g. ./data/eventsync.db';
  return undefined;
}

function kindOf(path: string): 'file' | 'folder' | undefined {
  try {
    return statSync(path).isDirectory() ? 'folder' : 'file';
  } catch {
    return undefined;
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

/** A connection URL with its password hidden, for messages. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the given URL';
  }
}
