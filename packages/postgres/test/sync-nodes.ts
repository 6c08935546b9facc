import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/sync-node.ts', import.meta.url));

/** A server node running in a child process (`fixtures/sync-node.ts`). */
export interface SyncNode {
  /** Where it serves, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Its LISTEN connection's `application_name`, to find it in `pg_stat_activity`. */
  readonly listenerName: string;
  /** What it wrote to standard error so far. */
  stderr(): string;
  /** Stops it with SIGTERM (SIGKILL if it is not gone within `timeoutMs`); idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts a server node over the PostgreSQL at `pgUrl`, on `schema`, and waits until it serves.
 *
 * @param applicationName - its connections' `application_name` (the listener's adds `:listener`).
 */
export function startSyncNode(
  pgUrl: string,
  schema: string,
  applicationName: string,
  timeoutMs = 30_000,
): Promise<SyncNode> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, pgUrl, schema, applicationName], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: `${root}tsconfig.check.json` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<SyncNode>((resolve, reject) => {
    let started = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the node did not start within ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`the node exited (${code ?? signal}) before serving: ${stderr}`));
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      const match = /^listening (\S+)$/m.exec(stdout);
      if (!match || started) return;
      started = true;
      clearTimeout(timer);
      resolve({
        url: match[1]!,
        listenerName: `${applicationName}:listener`,
        stderr: () => stderr,
        stop: (stopTimeoutMs = 15_000) => stop(child, exited, stopTimeoutMs),
      });
    });
  });
}

async function stop(child: ChildProcess, exited: Promise<void>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      child.kill('SIGKILL'); // only this child, by its own pid
      resolve();
    }, timeoutMs);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  await exited;
}
