// Drives Debian's Chromium from Node with playwright-core, with IndexedDB on disk: a persistent
// context on a fresh profile directory, pages loaded from a local server on 127.0.0.1 (a secure
// context, so Web Locks and BroadcastChannel are there), and the page's code bundled by esbuild.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { bundle } from './bundle.js';

/** The flags the browser runs with: no sandbox (root in a container), no GPU, nothing phoning home. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where Chromium is: `EVENTSYNC_CHROMIUM`, else Debian's `/usr/bin/chromium`; `undefined` when missing. */
export function findChromium(): string | undefined {
  const candidate = process.env.EVENTSYNC_CHROMIUM ?? '/usr/bin/chromium';
  return existsSync(candidate) ? candidate : undefined;
}

/** Whether tests must run in Chromium rather than skip (in CI, a missing Chromium is a failure). */
export function chromiumRequired(): boolean {
  return process.env.CI === 'true' || process.env.CI === '1';
}

/** A running Chromium with a page server. */
export interface ChromiumSession {
  readonly context: BrowserContext;
  /** The origin pages are served from: `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** The page server's port. */
  readonly port: number;
  /** The profile directory, where IndexedDB keeps its files. */
  readonly profile: string;
  /** Opens a tab on the test page, with the bundle loaded (its global is there). */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /** The module bundled into every page. */
  readonly entry: string;
  /**
   * The global the entry sets once it has loaded: {@link ChromiumSession.newPage} waits for it.
   *
   * @defaultValue `'eventsyncPage'`
   */
  readonly global?: string;
  /** Extra Chromium flags, e.g. `--js-flags=--expose-gc`. */
  readonly args?: readonly string[];
  /**
   * The profile directory to use (a previous session's, to restart the browser on its data).
   *
   * @defaultValue a fresh temporary directory
   */
  readonly profile?: string;
  /**
   * Keep the profile directory on close (to start again on it); otherwise it is deleted.
   *
   * @defaultValue false
   */
  readonly keepProfile?: boolean;
  /**
   * The port of the page server. IndexedDB belongs to an origin, port included: a restart on the same
   * profile must serve the same origin to find its data.
   *
   * @defaultValue a free port
   */
  readonly port?: number;
}

/**
 * Starts Chromium on a fresh profile directory (deleted on close) and a server for the page.
 *
 * @throws Error when Chromium is not installed; call {@link findChromium} first.
 */
export async function launchChromium(options: LaunchOptions): Promise<ChromiumSession> {
  const executablePath = findChromium();
  if (!executablePath)
    throw new Error('Chromium not found: install it (apt-get install chromium) or set EVENTSYNC_CHROMIUM');
  const script = await bundle(options.entry);
  // Functions the tests hand to `page.evaluate` are compiled by tsx, which wraps some in `__name(…)`.
  const html =
    '<!doctype html><meta charset="utf-8"><title>eventsync</title>' +
    '<script>globalThis.__name = (target) => target;</script><script src="/page.js"></script>';
  const server = createServer((request, response) => {
    if (request.url === '/page.js') {
      response.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
      response.end(script);
    } else if (request.url === '/' || request.url?.startsWith('/?')) {
      response.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      response.end(html);
    } else {
      response.writeHead(404).end();
    }
  });
  await listen(server, options.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const profile = options.profile ?? (await mkdtemp(path.join(tmpdir(), 'eventsync-chromium-')));
  const removeProfile = (): Promise<void> =>
    options.keepProfile ? Promise.resolve() : rm(profile, { recursive: true, force: true });
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
      timeout: 30_000,
    });
  } catch (error) {
    server.close();
    await removeProfile();
    throw error;
  }
  let closing: Promise<void> | undefined;
  // The persistent context opens a blank tab of its own; the tests open theirs.
  return {
    context,
    origin,
    port,
    profile,
    async newPage() {
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(`${origin}/`);
      await page.waitForFunction((name) => name in window, options.global ?? 'eventsyncPage');
      return page;
    },
    close() {
      closing ??= (async () => {
        await context.close().catch(() => {});
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await removeProfile();
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}
