// The todo PWA end to end, in real Chromium against the server `pnpm start` runs: scripts/start.sh
// itself (install, build, `eventsync serve --static examples/todo-pwa/dist` on SQLite), on a free port
// with its data in a temporary folder. Two persistent browser contexts (two devices, IndexedDB on disk)
// edit one list; one goes offline; both edit the same todo; the lists converge, under the last-write-wins
// strategy and under the manual one (through the conflict inbox); a reload while offline still shows the
// list. Screenshots of each step are kept in test-artifacts/todo-pwa/ (git-ignored).

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, chromiumRequired, findChromium } from '../../../packages/idb/test/support/chromium.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const artifacts = path.join(root, 'test-artifacts', 'todo-pwa');
const executablePath = findChromium();
const missing = !executablePath && !chromiumRequired();
const title = missing
  ? 'the todo PWA end to end (skipped: no Chromium; apt-get install chromium or set EVENTSYNC_CHROMIUM)'
  : 'the todo PWA end to end, two devices in Chromium against pnpm start';

/** How long two devices may take to show the same list after a change: "within seconds". */
const CONVERGE_MS = 10_000;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs scripts/start.sh until it serves; resolves with the link it printed and the process. */
async function startServer(
  data: string,
  port: number,
): Promise<{ link: string; process: ChildProcess; output: () => string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, EVENTSYNC_DATA: data, EVENTSYNC_PORT: String(port) };
  delete env['EVENTSYNC_TOKENS'];
  const child = spawn('bash', ['scripts/start.sh', '--quiet'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 240_000;
  while (!output.includes('eventsync: press Ctrl-C to stop')) {
    if (child.exitCode !== null) throw new Error(`pnpm start exited with ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`pnpm start did not serve in time:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const link = /^(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)$/m.exec(output)?.[1];
  if (!link) throw new Error(`pnpm start printed no link to the app:\n${output}`);
  return { link, process: child, output: () => output };
}

/** One device: a browser with its own on-disk profile. */
interface Device {
  readonly name: string;
  readonly context: BrowserContext;
  page: Page;
  /** What the page printed to its console: shown when a step fails. */
  readonly logs: string[];
}

async function openDevice(name: string, profiles: string, link: string): Promise<Device> {
  const context = await chromium.launchPersistentContext(path.join(profiles, name), {
    executablePath: executablePath!,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 520, height: 760 },
    timeout: 30_000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const device = { name, context, page, logs: [] as string[] };
  page.on('console', (message) => device.logs.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => device.logs.push(`error: ${error.message}`));
  await page.goto(link);
  await ready(device);
  // Offline reloads need the service worker in control of the page (it claims it once installed).
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, undefined, { timeout: 15_000 });
  return device;
}

async function ready(device: Device): Promise<void> {
  await device.page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
}

const titles = (device: Device): Promise<string[]> =>
  device.page.$$eval('#list .todo', (rows) =>
    rows.map((row) => `${row.classList.contains('done') ? '[x] ' : ''}${row.querySelector('.title')!.textContent}`),
  );

/** Waits until every device shows `expected`; fails with what each one shows. */
async function converge(devices: readonly Device[], expected: readonly string[]): Promise<void> {
  const deadline = Date.now() + CONVERGE_MS;
  for (;;) {
    const shown = await Promise.all(devices.map(titles));
    if (shown.every((list) => JSON.stringify(list) === JSON.stringify(expected))) return;
    if (Date.now() > deadline) {
      const report = devices.map((device, i) => `${device.name}: ${JSON.stringify(shown[i])}`).join('\n');
      throw new Error(
        `the devices did not converge on ${JSON.stringify(expected)} within ${CONVERGE_MS} ms:\n${report}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function add(device: Device, text: string): Promise<void> {
  await device.page.getByLabel('New todo').fill(text);
  await device.page.getByRole('button', { name: 'Add', exact: true }).click();
  await device.page.locator('#list .title', { hasText: text }).waitFor();
}

async function rename(device: Device, from: string, to: string): Promise<void> {
  await device.page.getByRole('button', { name: `Edit ${from}`, exact: true }).click();
  const editor = device.page.getByLabel(`New title for ${from}`, { exact: true });
  await editor.fill(to);
  await editor.press('Enter');
  await device.page.locator('#list .title', { hasText: to }).waitFor();
}

async function pending(device: Device): Promise<string> {
  return (await device.page.locator('#status-pending').textContent()) ?? '';
}

/** Waits until the device's outbox is empty: everything it recorded is on the server. */
async function saved(device: Device): Promise<void> {
  await device.page.locator('#status-pending', { hasText: 'all saved' }).waitFor({ timeout: CONVERGE_MS });
}

async function shoot(device: Device, step: string): Promise<void> {
  await device.page.screenshot({ path: path.join(artifacts, `${step}-${device.name}.png`), fullPage: true });
}

describe.skipIf(missing)(title, { timeout: 60_000 }, () => {
  let folder: string;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let phone: Device;
  let laptop: Device;

  beforeAll(async () => {
    folder = mkdtempSync(path.join(tmpdir(), 'eventsync-todo-e2e-'));
    mkdirSync(artifacts, { recursive: true });
    server = await startServer(path.join(folder, 'data'), await freePort());
    phone = await openDevice('phone', folder, server.link);
    laptop = await openDevice('laptop', folder, server.link);
  }, 300_000);

  afterEach(async (context) => {
    if (context.task.result?.state !== 'fail') return;
    // What each device showed when the step failed, kept beside the other screenshots.
    const step = `failed-${context.task.name.slice(0, 40).replace(/[^a-z0-9]+/gi, '-')}`;
    for (const device of [phone, laptop]) {
      if (!device) continue;
      await shoot(device, step).catch((error: unknown) => console.warn(`no screenshot of ${device.name}:`, error));
      console.warn(`${device.name}'s console:\n${device.logs.join('\n')}`);
    }
  });

  afterAll(async () => {
    await phone?.context.close();
    await laptop?.context.close();
    if (server && server.process.exitCode === null) {
      const exited = new Promise((resolve) => server!.process.once('exit', resolve));
      server.process.kill('SIGTERM');
      await exited;
    }
    rmSync(folder, { recursive: true, force: true });
  });

  it('serves the app and its manifest from the sync endpoint’s origin, and takes the token from the link', async () => {
    const origin = new URL(server!.link).origin;
    expect(new URL(phone.page.url()).origin).toBe(origin);
    expect(phone.page.url()).not.toContain('token='); // moved to storage, out of the address bar
    const manifest: unknown = await phone.page.evaluate(async (): Promise<unknown> =>
      (await fetch('/manifest.webmanifest')).json(),
    );
    expect(manifest).toMatchObject({ name: 'Todos · eventsync', display: 'standalone', start_url: '/' });
    // Chromium's own verdict on installability (manifest, icons, service worker): no errors.
    const cdp = await phone.context.newCDPSession(phone.page);
    const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as {
      installabilityErrors: { errorId: string }[];
    };
    expect(installabilityErrors.map((error) => error.errorId)).toEqual([]);
    await cdp.detach();
    await expect(phone.page.locator('#status-network').textContent()).resolves.toBe('Online');
  });

  it('shows one device’s changes on the other within seconds', async () => {
    await add(phone, 'Buy milk');
    await add(laptop, 'Call the plumber');
    await converge([phone, laptop], ['Buy milk', 'Call the plumber']);
    await laptop.page.getByRole('checkbox', { name: 'Done: Call the plumber' }).check();
    await converge([phone, laptop], ['Buy milk', '[x] Call the plumber']);
    await shoot(phone, '1-shared-list');
  });

  it('converges after an offline edit of the same todo, the last edit winning', async () => {
    await phone.context.setOffline(true);
    await phone.page.locator('#status-network', { hasText: 'Offline' }).waitFor();
    await rename(phone, 'Buy milk', 'Buy oat milk');
    expect(await pending(phone)).toBe('1 pending');
    await phone.page.locator('.todo.unsynced .title', { hasText: 'Buy oat milk' }).waitFor();
    await shoot(phone, '2-offline-edit');
    await rename(laptop, 'Buy milk', 'Buy soy milk'); // later, so it wins everywhere
    await saved(laptop); // on the server before the phone is back

    await phone.context.setOffline(false);
    await converge([phone, laptop], ['Buy soy milk', '[x] Call the plumber']);
    await saved(phone);
    await phone.page.locator('.todo.unsynced').waitFor({ state: 'detached', timeout: CONVERGE_MS });
    await shoot(phone, '3-converged-lww');
  });

  it('parks the conflict in the inbox under the manual strategy, and converges once it is resolved', async () => {
    await phone.page.getByLabel('Conflict strategy').selectOption('manual');
    await phone.context.setOffline(true);
    await phone.page.locator('#status-network', { hasText: 'Offline' }).waitFor();
    await rename(phone, 'Buy soy milk', 'Buy almond milk');
    await rename(laptop, 'Buy soy milk', 'Buy rice milk');
    await saved(laptop);

    await phone.context.setOffline(false);
    const inbox = phone.page.getByRole('region', { name: /Conflicts/ });
    await inbox.waitFor({ timeout: CONVERGE_MS });
    // Until someone decides, the phone shows what the server holds, and the inbox says what collided.
    await converge([phone, laptop], ['Buy rice milk', '[x] Call the plumber']);
    await expect(inbox.textContent()).resolves.toMatch(/You renamed it to “Buy almond milk”/);
    await expect(inbox.textContent()).resolves.toMatch(/Another device renamed it to “Buy rice milk”/);
    await shoot(phone, '4-conflict-inbox');

    await inbox.getByRole('button', { name: 'Keep mine' }).click();
    await inbox.waitFor({ state: 'hidden', timeout: CONVERGE_MS });
    await converge([phone, laptop], ['Buy almond milk', '[x] Call the plumber']);
    await shoot(laptop, '5-resolved');
  });

  it('still shows the list after a reload while offline, and keeps edits made then', async () => {
    await phone.context.setOffline(true);
    await phone.page.reload();
    await ready(phone);
    expect(await titles(phone)).toEqual(['Buy almond milk', '[x] Call the plumber']);
    await expect(phone.page.locator('#status-network').textContent()).resolves.toBe('Offline');
    await phone.page.getByRole('button', { name: 'Delete Buy almond milk', exact: true }).click();
    await converge([phone], ['[x] Call the plumber']);
    await shoot(phone, '6-offline-reload');

    await phone.context.setOffline(false);
    await converge([phone, laptop], ['[x] Call the plumber']);
  });
  it('lets a second tab of a device edit, while the first tab syncs for both', async () => {
    const tab = await phone.context.newPage();
    const second: Device = { name: 'phone-tab-2', context: phone.context, page: tab, logs: [] };
    await tab.goto(new URL('/', server!.link).href);
    await ready(second);
    await tab.locator('#status-synced', { hasText: 'another tab syncs' }).waitFor();
    // Offline, the edit waits in the outbox both tabs share, and the second tab shows it.
    await phone.context.setOffline(true);
    await add(second, 'Water the plants');
    await tab.locator('#status-pending', { hasText: '1 pending' }).waitFor({ timeout: CONVERGE_MS });
    // Back online, the leading tab pushes it; the second tab hears that the outbox emptied.
    await phone.context.setOffline(false);
    await saved(second);
    await converge([phone, second, laptop], ['[x] Call the plumber', 'Water the plants']);
    await shoot(second, '7-second-tab');
    await tab.close();
  });
});
