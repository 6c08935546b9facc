// IndexedDbEventStore in real Chromium with IndexedDB on disk, driven from Node: several pages (tabs)
// of one app on one database, the sync leader among them, a schema upgrade while a page holds the
// database, a full disk, and a browser restart. The server is a MemoryServerEventLog in this process.

import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { chromiumRequired, findChromium, launchChromium, type ChromiumSession } from './support/chromium.js';
import { eventually } from './support/eventually.js';
import { ServerBridge } from './support/server-bridge.js';

const entry = fileURLToPath(new URL('./support/page.ts', import.meta.url));
const missing = !findChromium() && !chromiumRequired();
const title = missing
  ? 'IndexedDbEventStore in Chromium (skipped: no Chromium; apt-get install chromium or set EVENTSYNC_CHROMIUM)'
  : 'IndexedDbEventStore in Chromium, on disk';

describe.skipIf(missing)(title, { timeout: 30_000 }, () => {
  let session: ChromiumSession;
  let server: ServerBridge;
  let databases = 0;

  beforeAll(async () => {
    session = await launchChromium({ entry });
    server = new ServerBridge();
    await server.install(session.context);
  }, 60_000);

  afterAll(async () => {
    await session?.close();
  });

  beforeEach(() => server.reset());

  const database = (): string => `tabs-${databases++}`;

  async function openTab(name: string, options: { sync?: boolean; locks?: boolean } = {}): Promise<Page> {
    const page = await session.newPage();
    await page.evaluate(([db, tabOptions]) => window.eventsyncPage.openTab(db, tabOptions), [name, options] as const);
    return page;
  }

  const status = (page: Page) => page.evaluate(() => window.eventsyncPage.status());

  async function leaderOf(pages: readonly Page[]): Promise<Page> {
    let leader: Page | undefined;
    await eventually(async () => {
      const states = await Promise.all(pages.map(status));
      const leaders = pages.filter((_, i) => states[i]!.leader);
      if (leaders.length > 1) throw new Error('two pages lead at once');
      leader = leaders[0];
      return leader !== undefined;
    }, 'a leader among the pages');
    return leader!;
  }

  async function synced(pages: readonly Page[], count: number): Promise<void> {
    await eventually(async () => (await server.ids()).length >= count, `${count} events on the server`, 10_000);
    await eventually(
      async () =>
        (await Promise.all(pages.map(status))).every((state) => state.pending === 0 && state.confirmed === count),
      'every page to see them confirmed',
      10_000,
    );
  }

  it('lets two pages append at once while only the leader syncs, for both', async () => {
    const name = database();
    const first = await openTab(name);
    const second = await openTab(name);
    const mode = await first.evaluate(() => window.eventsyncPage.current().leader.mode);
    expect(mode).toBe('locks');
    const leader = await leaderOf([first, second]);
    const [fromFirst, fromSecond] = await Promise.all([
      first.evaluate(() => window.eventsyncPage.appendMany(60, 'first')),
      second.evaluate(() => window.eventsyncPage.appendMany(60, 'second')),
    ]);
    await synced([first, second], 120);
    const onServer = await server.ids();
    expect(new Set(onServer)).toEqual(new Set([...fromFirst, ...fromSecond]));
    expect(onServer).toHaveLength(120);
    // Each page's own appends keep their order on the server.
    for (const ids of [fromFirst, fromSecond]) expect(onServer.filter((id) => ids.includes(id))).toEqual(ids);
    const follower = leader === first ? second : first;
    expect(server.pushes.get(follower) ?? []).toEqual([]);
    expect(server.pushes.get(leader)).toHaveLength(120);
    await first.close();
    await second.close();
  });

  it('hands the lead to another page when the leader page closes, or is frozen', async () => {
    const name = database();
    const pages = [await openTab(name), await openTab(name), await openTab(name)];
    const first = await leaderOf(pages);
    await first.close({ runBeforeUnload: false });
    const rest = pages.filter((page) => page !== first);
    const second = await leaderOf(rest);
    const appended = await rest[0]!.evaluate(() => window.eventsyncPage.appendMany(10, 'after-close'));
    await synced(rest, 10);
    expect(server.pushes.get(second)).toEqual(appended);

    // A page about to be frozen lets go of the lead (Page Lifecycle's `freeze` event) and competes
    // again on `resume`. Headless Chromium does not freeze visible pages (CDP's setWebLifecycleState
    // is a no-op there), so the test sends the events the browser would.
    await second.evaluate(() => document.dispatchEvent(new Event('freeze')));
    const third = rest.find((page) => page !== second)!;
    expect(await leaderOf(rest)).toBe(third);
    await second.evaluate(() => document.dispatchEvent(new Event('resume')));
    const more = await second.evaluate(() => window.eventsyncPage.appendMany(5, 'after-freeze'));
    await synced(rest, 15);
    expect(server.pushes.get(third)).toEqual(more);
    expect(await server.ids()).toEqual([...appended, ...more]);
    for (const page of rest) await page.close();
  });

  it('elects a leader by the lease in IndexedDB where Web Locks are missing, and replaces one that closes', async () => {
    const name = database();
    const pages = [await openTab(name, { locks: false }), await openTab(name, { locks: false })];
    expect(await pages[0]!.evaluate(() => window.eventsyncPage.current().leader.mode)).toBe('lease');
    const first = await leaderOf(pages);
    const other = pages.find((page) => page !== first)!;
    const appended = await other.evaluate(() => window.eventsyncPage.appendMany(10, 'lease'));
    await synced(pages, 10);
    expect(server.pushes.get(first)).toEqual(appended);
    await first.close({ runBeforeUnload: false });
    expect(await leaderOf([other])).toBe(other);
    await other.close();
  });

  it('upgrades the schema while another page holds the database open: that page lets go and says so', async () => {
    const name = database();
    const old = await openTab(name, { sync: false });
    await old.evaluate(() => window.eventsyncPage.appendMany(3, 'old'));
    const upgrader = await session.newPage();
    const upgraded = await upgrader.evaluate((db) => window.eventsyncPage.openNextSchema(db), name);
    expect(upgraded).toMatchObject({ pending: 3 });
    expect('stores' in upgraded && upgraded.stores).toContain('added-by-the-next-version');
    const seen = await old.evaluate(async () => {
      const tab = window.eventsyncPage.current();
      try {
        await tab.store.pendingCount();
        return { versionChanged: tab.versionChanged, error: undefined };
      } catch (error) {
        const { code, details } = error as { code: string; details: { reason: string } };
        return { versionChanged: tab.versionChanged, error: { code, reason: details.reason } };
      }
    });
    expect(seen).toEqual({ versionChanged: true, error: { code: 'closed', reason: 'versionchange' } });
    await old.close();
    await upgrader.close();
  });

  it('says so when the browser closes the database under it (site data cleared)', async () => {
    const page = await session.newPage();
    await page.evaluate(async () => {
      const { idb } = window.eventsyncPage;
      const state = window as unknown as {
        terminated: boolean;
        store: Awaited<ReturnType<typeof idb.IndexedDbEventStore.open>>;
      };
      state.terminated = false;
      state.store = await idb.IndexedDbEventStore.open({
        name: 'cleared',
        onTerminated: () => {
          state.terminated = true;
        },
      });
      await state.store.pendingCount();
    });
    const cdp = await session.context.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: session.origin, storageTypes: 'indexeddb' });
    await eventually(
      () => page.evaluate(() => (window as unknown as { terminated: boolean }).terminated),
      'onTerminated',
    );
    const error = await page.evaluate(async () => {
      const { store } = window as unknown as { store: { pendingCount(): Promise<number> } };
      try {
        await store.pendingCount();
        return undefined;
      } catch (thrown) {
        const { code, details } = thrown as { code: string; details: { reason: string } };
        return { code, reason: details.reason };
      }
    });
    expect(error).toEqual({ code: 'storage', reason: 'terminated' });
    await page.close();
  });

  it('reports an upgrade blocked by a page that does not let go, and gives up instead of hanging', async () => {
    const name = database();
    const stubborn = await session.newPage();
    await stubborn.evaluate(async (db) => {
      const store = await window.eventsyncPage.idb.IndexedDbEventStore.open({ name: db });
      await store.close();
      await window.eventsyncPage.holdOpen(db);
    }, name);
    const upgrader = await session.newPage();
    const blocked = await upgrader.evaluate((db) => window.eventsyncPage.openNextSchema(db, 300), name);
    expect(blocked).toEqual({ blocked: true, error: { code: 'timeout', reason: 'blocked' } });
    await stubborn.evaluate(() => window.eventsyncPage.letGo());
    const upgraded = await upgrader.evaluate((db) => window.eventsyncPage.openNextSchema(db), name);
    expect(upgraded).toMatchObject({ pending: 0 });
    await stubborn.close();
    await upgrader.close();
  });
});

describe.skipIf(missing)(`${title}: a full disk`, () => {
  it('fails a write with quota when the disk is full, with the DOMException as cause, losing nothing stored', async () => {
    // A session of its own: Chromium applies a quota override only to an origin that has not opened
    // IndexedDB yet. Then the quota is 1 MB: what a nearly full disk looks like to the page.
    const session = await launchChromium({ entry });
    try {
      const page = await session.newPage();
      const cdp = await session.context.newCDPSession(page);
      await cdp.send('Storage.overrideQuotaForOrigin', { origin: session.origin, quotaSize: 1_000_000 });
      const outcome = await page.evaluate(async () => {
        const { idb, core } = window.eventsyncPage;
        const store = await idb.IndexedDbEventStore.open({ name: 'quota' });
        const factory = new core.EventFactory({ clientId: 'quota' });
        const kept = Array.from({ length: 20 }, (_, i) =>
          factory.create({ type: 'kept', aggregateId: `k${i}`, data: { i } }),
        );
        await store.appendLocal(kept);
        await store.applyPulled({
          events: kept.slice(0, 5).map((event, i) => ({ event, version: core.CursorVersion.of(i + 1) })),
          cursor: core.CursorVersion.of(5),
        });
        // Random text: Chromium compresses what it stores, so a repeated letter would never fill it.
        const random = (): string =>
          Array.from({ length: 60_000 }, () => String.fromCharCode(35 + Math.floor(Math.random() * 90))).join('');
        let error: { code: string; cause: string | undefined; message: string } | undefined;
        let appended = 0;
        for (let round = 0; round < 100 && !error; round++) {
          try {
            await store.appendLocal(
              Array.from({ length: 4 }, (_, i) =>
                factory.create({ type: 'big', aggregateId: `b${i}`, data: { big: random() } }),
              ),
            );
            appended += 4;
          } catch (thrown) {
            const { code, cause, message } = thrown as { code: string; cause?: { name?: string }; message: string };
            error = { code, cause: cause?.name, message };
          }
        }
        const page = Array.from({ length: 10 }, (_, i) => ({
          event: factory.create({ type: 'big', aggregateId: 'p', data: { big: random() } }),
          version: core.CursorVersion.of(6 + i),
        }));
        const pulledError = await store.applyPulled({ events: page, cursor: core.CursorVersion.of(15) }).then(
          () => undefined,
          (thrown: { code: string }) => thrown.code,
        );
        const result = {
          error,
          pulledError,
          appended,
          pending: await store.pendingCount(),
          keptPending: (await store.pending()).filter((entry) => entry.event.type === 'kept').length,
          log: (await store.load(core.CursorVersion.ZERO)).length,
          cursor: (await store.cursor()).toString(),
        };
        await store.close();
        // Reopened: the same.
        const again = await idb.IndexedDbEventStore.open({ name: 'quota' });
        const reopened = {
          pending: await again.pendingCount(),
          log: (await again.load(core.CursorVersion.ZERO)).length,
        };
        await again.close();
        return { ...result, reopened };
      });
      expect(outcome.error).toMatchObject({ code: 'quota', cause: 'QuotaExceededError' });
      expect(outcome.error?.message).toMatch(/out of space/);
      expect(outcome.appended).toBeGreaterThan(0);
      expect(outcome.pulledError).toBe('quota');
      expect(outcome).toMatchObject({ keptPending: 15, pending: 15 + outcome.appended, log: 5, cursor: '5' });
      expect(outcome.reopened).toEqual({ pending: 15 + outcome.appended, log: 5 });
    } finally {
      await session.close();
    }
  }, 60_000);
});

describe.skipIf(missing)(`${title}: a restart`, () => {
  it('keeps the log, the outbox and the cursor across a browser restart', async () => {
    const first = await launchChromium({ entry, keepProfile: true });
    const { profile, port } = first;
    try {
      const page = await first.newPage();
      const written = await page.evaluate(async () => {
        const { idb, core } = window.eventsyncPage;
        const store = await idb.IndexedDbEventStore.open({ name: 'restart' });
        const factory = new core.EventFactory({ clientId: 'restart' });
        const pulled = Array.from({ length: 2_500 }, (_, i) =>
          factory.create({ type: 'pulled', aggregateId: `a${i % 7}`, data: { i } }),
        );
        for (let i = 0; i < pulled.length; i += 1_000) {
          await store.applyPulled({
            events: pulled
              .slice(i, i + 1_000)
              .map((event, j) => ({ event, version: core.CursorVersion.of(i + j + 1) })),
            cursor: core.CursorVersion.of(Math.min(i + 1_000, pulled.length)),
          });
        }
        const own = Array.from({ length: 30 }, (_, i) =>
          factory.create({ type: 'own', aggregateId: 'a1', data: { i } }),
        );
        await Promise.all(own.map((event) => store.appendLocal([event])));
        return { pulled: pulled.map((event) => event.id), own: own.map((event) => event.id) };
      });
      // The browser goes away without a word to the page; then comes back on the same profile and origin.
      await first.close();
      const second = await launchChromium({ entry, profile, port });
      try {
        const read = await (
          await second.newPage()
        ).evaluate(async () => {
          const { idb, core } = window.eventsyncPage;
          const store = await idb.IndexedDbEventStore.open({ name: 'restart' });
          return {
            log: (await store.load(core.CursorVersion.ZERO)).map((item) => item.event.id),
            pending: (await store.pending()).map((entry) => entry.event.id),
            cursor: (await store.cursor()).toString(),
            a1: (await store.aggregateVersion('a1')).toString(),
          };
        });
        expect(read.log).toEqual(written.pulled);
        expect(read.pending).toEqual(written.own);
        expect(read.cursor).toBe('2500');
        const lastOfA1 = [...written.pulled.keys()].filter((i) => i % 7 === 1).at(-1)!;
        expect(read.a1).toBe(String(lastOfA1 + 1));
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await rm(profile, { recursive: true, force: true });
    }
  }, 60_000);
});
