// The program's settings and exit codes, run in this process: stopped by an AbortSignal.

import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../src/run.js';

let folder: string;
let blocker: Server | undefined;

afterEach(async () => {
  if (blocker) await new Promise((resolve) => blocker?.close(resolve));
  blocker = undefined;
  rmSync(folder, { recursive: true, force: true });
});

function output(): { lines: string[]; stdout: (line: string) => void; stderr: (line: string) => void } {
  const lines: string[] = [];
  return { lines, stdout: (line) => lines.push(line), stderr: (line) => lines.push(`! ${line}`) };
}

describe('run', () => {
  it('serves until its signal fires, then stops gracefully with 0', async () => {
    folder = mkdtempSync(join(tmpdir(), 'eventsync-node-server-run-'));
    const out = output();
    const stop = new AbortController();
    const env = { PORT: '0', DB_PATH: join(folder, 'events.db'), ACME_TOKEN: 'acme-1', GLOBEX_TOKEN: 'globex-1' };
    const exit = run({ ...out, env, signal: stop.signal });
    for (let i = 0; i < 200 && !out.lines.some((line) => line.includes('press Ctrl-C')); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const url = /at (http:\/\/127\.0\.0\.1:\d+)$/.exec(out.lines[0] ?? '')?.[1];
    expect(url).toBeDefined();
    expect(out.lines).toContain('node-server: tenant globex: token from GLOBEX_TOKEN');
    expect(out.lines).toContain(`node-server: try  curl -H "Authorization: Bearer $ACME_TOKEN" ${url}/api/stats`);
    const version = await fetch(`${url}/sync/v1/version`, { headers: { Authorization: 'Bearer globex-1' } });
    expect(await version.json()).toEqual({ latest: '0' });
    // Without QUIET, each sync request is logged as a JSON line.
    expect(JSON.parse(out.lines.at(-1) ?? '')).toMatchObject({
      path: '/sync/v1/version',
      status: 200,
      tenant: 'globex',
    });

    stop.abort();
    expect(await exit).toBe(0);
    expect(out.lines.at(-1)).toBe('node-server: stopped');
  });

  it('exits with 2 for a bad setting and with 1 when it cannot open the database or the port', async () => {
    folder = mkdtempSync(join(tmpdir(), 'eventsync-node-server-run-'));
    const db = join(folder, 'events.db');
    const cases: [Record<string, string>, number, RegExp][] = [
      [{ PORT: 'eighty', DB_PATH: db }, 2, /PORT must be a number from 0 to 65535, got "eighty"/],
      [{ PORT: '70000', DB_PATH: db }, 2, /PORT must be a number/],
      [{ PORT: '0', DB_PATH: db, ACME_TOKEN: 'has spaces' }, 2, /ACME_TOKEN must be a bearer token/],
      [
        { PORT: '0', DB_PATH: db, ACME_TOKEN: 'same', GLOBEX_TOKEN: 'same' },
        2,
        /GLOBEX_TOKEN and ACME_TOKEN hold the same token/,
      ],
      [{ PORT: '0', DB_PATH: folder }, 1, /cannot open the database/],
    ];
    mkdirSync(join(folder, 'sub'));
    for (const [env, code, message] of cases) {
      const out = output();
      expect(await run({ ...out, env }), JSON.stringify(env)).toBe(code);
      expect(out.lines.join('\n')).toMatch(message);
    }

    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    const out = output();
    expect(await run({ ...out, env: { PORT: String(taken), DB_PATH: db } })).toBe(1);
    expect(out.lines.join('\n')).toMatch(/cannot listen on 127\.0\.0\.1:\d+: .*is another server running\?/);
  });
});
