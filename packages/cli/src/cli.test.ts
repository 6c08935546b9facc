import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from './cli.js';

let folder: string;
let stops: AbortController[];

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'eventsync-cli-'));
  stops = [];
});

afterEach(() => {
  for (const stop of stops) stop.abort();
  rmSync(folder, { recursive: true, force: true });
});

/** Runs the command in this process; `lines` collects its output. */
function run(argv: string[], env: Record<string, string> = {}) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const stop = new AbortController();
  stops.push(stop);
  const exit = main(argv, {
    stdout: (line) => stdout.push(line),
    stderr: (line) => stderr.push(line),
    env,
    signal: stop.signal,
    handleSignals: false,
  });
  return { stdout, stderr, exit, stop };
}

/** Waits until the command printed the URL it serves at. */
async function urlOf(stdout: string[], timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = stdout.find((text) => text.includes(' at http://'));
    if (line) return line.slice(line.indexOf('http://'));
    if (Date.now() > deadline) throw new Error(`No URL printed: ${stdout.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A port nothing listens on: taken, then released. */
async function freePort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('eventsync', () => {
  it('prints its usage', async () => {
    const help = run(['--help']);
    expect(await help.exit).toBe(0);
    expect(help.stdout.join('\n')).toContain('Usage: eventsync <command>');
    const serveHelp = run(['serve', '--help']);
    expect(await serveHelp.exit).toBe(0);
    expect(serveHelp.stdout.join('\n')).toContain('--db <path>');
    const version = run(['--version']);
    expect(await version.exit).toBe(0);
    expect(version.stdout[0]).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('refuses unknown commands and bad options with exit code 2', async () => {
    const unknown = run(['start']);
    expect(await unknown.exit).toBe(2);
    expect(unknown.stderr[0]).toBe('eventsync: Unknown command "start"');
    const bad = run(['serve', '--port', 'eighty']);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr).toEqual([
      'eventsync: --port must be a number from 0 to 65535, got "eighty"',
      'Run eventsync serve --help for usage.',
    ]);
  });

  it('serves a SQLite log over HTTP until stopped', async () => {
    const db = join(folder, 'nested', 'events.db');
    const serving = run(['serve', '--db', db, '--port', '0', '--token', 'acme:tok-a', '--token', 'tok-b']);
    const url = await urlOf(serving.stdout);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/version`, { headers: { Authorization: 'Bearer nope' } })).status).toBe(401);
    const pushed = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { Authorization: 'Bearer tok-a', 'Content-Type': 'application/json' },
      body: JSON.stringify({
        events: [
          {
            id: '01JDQ7Z8K3M4N5P6Q7R8S9T0V1',
            type: 'todo.added',
            aggregateId: 'todo-1',
            data: { title: 'Milk' },
            metadata: { timestamp: '2026-11-24T18:40:15.123Z-00000000-curl', clientId: 'curl' },
          },
        ],
      }),
    });
    expect(await pushed.json()).toMatchObject({ results: [{ status: 'accepted', version: '1' }] });
    const acme = await fetch(`${url}/v1/version`, { headers: { Authorization: 'Bearer tok-a' } });
    expect(await acme.json()).toEqual({ latest: '1' });
    const other = await fetch(`${url}/v1/version`, { headers: { Authorization: 'Bearer tok-b' } });
    expect(await other.json()).toEqual({ latest: '0' });
    expect(serving.stdout).toContain('eventsync: 2 token(s), for tenant(s) acme, default');
    expect(serving.stdout.some((line) => line.includes('tok-'))).toBe(false);
    const log = serving.stdout.find((line) => line.includes('"path":"/v1/events"'));
    expect(JSON.parse(log!)).toMatchObject({ method: 'POST', status: 200, tenant: 'acme' });

    serving.stop.abort();
    expect(await serving.exit).toBe(0);
    expect(serving.stdout.at(-1)).toBe('eventsync: stopped');

    // The events are on disk: a second run serves them.
    const again = run([
      'serve',
      '--db',
      db,
      '--port',
      '0',
      '--token',
      'acme:tok-a',
      '--quiet',
      '--keep-alive-timeout',
      '65000',
    ]);
    const url2 = await urlOf(again.stdout);
    const latest = await fetch(`${url2}/v1/version`, { headers: { Authorization: 'Bearer tok-a' } });
    expect(await latest.json()).toEqual({ latest: '1' });
    expect(latest.headers.get('keep-alive')).toBe('timeout=65'); // node:http says its keepAliveTimeout
    again.stop.abort();
    expect(await again.exit).toBe(0);
    expect(again.stdout.some((line) => line.startsWith('{'))).toBe(false);
  });

  it('serves a built web app from the same origin with --static, and the endpoint beside it', async () => {
    const app = join(folder, 'dist');
    mkdirSync(app);
    writeFileSync(join(app, 'index.html'), '<!doctype html><title>todos</title>');
    const serving = run(['serve', '--db', join(folder, 'app.db'), '--port', '0', '--token', 'tok', '--static', app]);
    const url = await urlOf(serving.stdout);
    expect(serving.stdout).toContain(`eventsync: the app in ${realpathSync(app)} at ${url}/`);
    expect(await (await fetch(`${url}/`)).text()).toContain('<title>todos</title>');
    expect(await (await fetch(`${url}/lists/1`)).text()).toContain('<title>todos</title>');
    expect((await fetch(`${url}/v1/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/version`)).status).toBe(401);
    serving.stop.abort();
    expect(await serving.exit).toBe(0);

    const missing = run(['serve', '--db', join(folder, 'app.db'), '--port', '0', '--static', join(folder, 'none')]);
    expect(await missing.exit).toBe(1);
    expect(missing.stderr.join('\n')).toMatch(/cannot serve --static: .*none does not exist; build the app first/);
  });

  const postgresUrl = process.env.EVENTSYNC_PG_URL;
  const needsPostgres = !postgresUrl && !process.env.CI;
  it.skipIf(needsPostgres)(
    `serves a PostgreSQL log with --postgres${needsPostgres ? ' (skipped: EVENTSYNC_PG_URL is not set; `pnpm test` starts one)' : ''}`,
    async () => {
      expect(postgresUrl, 'CI must provide EVENTSYNC_PG_URL').toBeDefined();
      // A tenant of its own, so the shared database's other users do not matter.
      const tenant = `cli-${Date.now().toString(36)}`;
      const serving = run([
        'serve',
        '--postgres',
        postgresUrl!,
        '--port',
        '0',
        '--token',
        `${tenant}:tok-pg`,
        '--quiet',
      ]);
      const url = await urlOf(serving.stdout, 20_000);
      const headers = { Authorization: 'Bearer tok-pg', 'Content-Type': 'application/json' };
      const pushed = await fetch(`${url}/v1/events`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          events: [
            {
              id: '01JDQ7Z8K3M4N5P6Q7R8S9T0V2',
              type: 'todo.added',
              aggregateId: 'todo-1',
              data: { title: 'Milk' },
              metadata: { timestamp: '2026-11-24T18:40:15.123Z-00000000-curl', clientId: 'curl' },
            },
          ],
        }),
      });
      expect(await pushed.json()).toMatchObject({ results: [{ status: 'accepted', version: '1' }] });
      expect(serving.stdout.some((line) => line.includes('serving postgres'))).toBe(true);
      serving.stop.abort();
      expect(await serving.exit).toBe(0);
    },
    30_000,
  );

  it('refuses --postgres with something that is not a PostgreSQL URL, and --db with --postgres', async () => {
    expect(await run(['serve', '--postgres', 'mysql://x']).exit).toBe(2);
    expect(await run(['serve', '--postgres', 'postgres://x/y', '--db', 'a.db']).exit).toBe(2);
  });

  it('says clearly when PostgreSQL cannot be reached', async () => {
    const closed = await freePort();
    const serving = run(['serve', '--postgres', `postgres://postgres:secret@127.0.0.1:${closed}/none`, '--port', '0']);
    expect(await serving.exit).toBe(1);
    expect(serving.stderr.join('\n')).toMatch(/cannot use PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1/);
  }, 30_000);

  it('serves the metrics to --metrics-token and to nobody else', async () => {
    const serving = run([
      'serve',
      '--db',
      join(folder, 'm.db'),
      '--port',
      '0',
      '--token',
      'tok-a',
      '--metrics-token',
      'tok-m',
      '--quiet',
    ]);
    const url = await urlOf(serving.stdout);
    expect((await fetch(`${url}/v1/metrics`, { headers: { Authorization: 'Bearer tok-a' } })).status).toBe(401);
    const metrics = await fetch(`${url}/metrics`, { headers: { Authorization: 'Bearer tok-m' } });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);
    serving.stop.abort();
    expect(await serving.exit).toBe(0);
  });

  it('generates and prints a token when given none', async () => {
    const serving = run(['serve', '--db', join(folder, 'e.db'), '--port', '0']);
    const url = await urlOf(serving.stdout);
    const line = serving.stdout.find((text) => text.includes('token for tenant "default"'))!;
    const token = line.slice(line.lastIndexOf(' ') + 1);
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await fetch(`${url}/v1/version`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    serving.stop.abort();
    expect(await serving.exit).toBe(0);
  });

  it('says clearly that the port is in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const refused = run(['serve', '--db', join(folder, 'e.db'), '--port', String(port)]);
      expect(await refused.exit).toBe(1);
      expect(refused.stderr).toEqual([
        `eventsync: Port ${port} on 127.0.0.1 is already in use (is another server running?); choose another with --port`,
      ]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it.each([
    ['a folder', (dir: string) => dir, 'it is a folder'],
    [
      'a file that is not SQLite',
      (dir: string) => {
        writeFileSync(join(dir, 'notes.txt'), 'hello, this is not a database, not at all. '.repeat(10));
        return join(dir, 'notes.txt');
      },
      'not a SQLite database',
    ],
    [
      'a path under a file',
      (dir: string) => {
        writeFileSync(join(dir, 'file'), '');
        return join(dir, 'file', 'events.db');
      },
      'is not a folder',
    ],
  ])('says clearly that it cannot open %s as the database', async (_name, makePath, message) => {
    const path = makePath(folder);
    const refused = run(['serve', '--db', path, '--port', '0']);
    expect(await refused.exit).toBe(1);
    expect(refused.stderr).toHaveLength(1);
    expect(refused.stderr[0]).toContain(path);
    expect(refused.stderr[0]).toContain(message);
  });
});
