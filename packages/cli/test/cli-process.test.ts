import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
let folder: string;
let children: ChildProcess[];

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'eventsync-cli-process-'));
  children = [];
});

afterEach(() => {
  // Only the processes this test started, by their ids.
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(folder, { recursive: true, force: true });
});

/** Starts `eventsync` from its sources (tsx resolves the workspace packages to their sources too). */
function eventsync(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/cli/src/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: 'tsconfig.check.json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    exit,
    output: () => ({ stdout, stderr }),
    async url(timeoutMs = 20_000): Promise<string> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = / at (http:\/\/[^\s]+)/.exec(stdout);
        if (match) return match[1]!;
        if (Date.now() > deadline || child.exitCode !== null) {
          throw new Error(`eventsync printed no URL:\n${stdout}\n${stderr}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
  };
}

describe('the eventsync process', () => {
  it('serves until SIGTERM, then stops gracefully with exit code 0', { timeout: 30_000 }, async () => {
    const server = eventsync(['serve', '--db', join(folder, 'e.db'), '--port', '0', '--token', 'acme:t1']);
    const url = await server.url();
    expect(await (await fetch(`${url}/v1/health`)).json()).toEqual({ status: 'ok', protocol: 1 });
    const stream = await fetch(`${url}/v1/stream`, { headers: { Authorization: 'Bearer t1' } });
    expect(stream.status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
    expect(server.output().stdout).toContain('eventsync: stopped');
    await expect(stream.text()).resolves.toContain('event: events');
  });

  it('exits with 1 and one clear line when the port is in use', { timeout: 30_000 }, async () => {
    const first = eventsync(['serve', '--db', join(folder, 'a.db'), '--port', '0']);
    const port = new URL(await first.url()).port;
    const second = eventsync(['serve', '--db', join(folder, 'b.db'), '--port', port]);
    expect(await second.exit).toBe(1);
    expect(second.output().stderr.trim()).toBe(
      `eventsync: Port ${port} on 127.0.0.1 is already in use (is another server running?); choose another with --port`,
    );
    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
  });
});
