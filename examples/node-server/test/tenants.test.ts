// Sync clients (SyncManager + HttpTransport) and plain HTTP against the example's node:http app on
// 127.0.0.1, over a SQLite file: tenants are kept apart on every path, tokens are required, and two
// devices of one tenant converge.

import { CursorVersion, isSyncError, type LiveBatch, type VersionedEvent } from '@eventsync/core';
import { TestEvents } from '@eventsync/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { ACME, ACME_2, GLOBEX, startApp, sleep, type Client, type Running } from './support.js';

let running: Running | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
});

async function start(): Promise<Running> {
  running = await startApp();
  return running;
}

interface WirePage {
  events: { event: { id: string; aggregateId: string; data: unknown }; version: string }[];
  next: string;
  hasMore: boolean;
}

/** A tenant's whole log as the server hands it to `token`, over HTTP. */
async function serverLog(server: Running, token: string): Promise<WirePage['events']> {
  const response = await server.call(`${server.app.syncPath}/v1/events?since=0`, token);
  expect(response.status).toBe(200);
  const page = (await response.json()) as WirePage;
  expect(page.hasMore).toBe(false);
  return page.events;
}

function ids(items: readonly { event: { id: string } }[]): string[] {
  return items.map((item) => item.event.id);
}

async function replica(client: Client): Promise<VersionedEvent[]> {
  return client.local.load(CursorVersion.ZERO);
}

/** Syncs every client until each outbox is empty and each replica has its tenant's whole log. */
async function syncUntilQuiet(clients: readonly Client[], rounds = 10): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const { manager } of clients) await manager.sync();
    const states = await Promise.all(
      clients.map(async ({ local, transport }) => ({
        pending: await local.pendingCount(),
        current: (await local.cursor()).equals(await transport.latestVersion()),
      })),
    );
    if (states.every(({ pending, current }) => pending === 0 && current)) return;
  }
  throw new Error(`the clients did not converge in ${rounds} rounds`);
}

describe('tenants of the node:http app', () => {
  it("gives each tenant's clients their own tenant's events only, in a sequence of its own", async () => {
    const server = await start();
    const acme = server.client('acme-phone', ACME);
    const acmeLaptop = server.client('acme-laptop', ACME_2);
    const globex = server.client('globex-phone', GLOBEX);

    const acmeEvents = await acme.manager.append([
      { type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } },
      { type: 'todo.added', aggregateId: 'todo-2', data: { title: 'Bread' } },
    ]);
    const globexEvents = await globex.manager.append([
      { type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Invoice' } },
    ]);
    await syncUntilQuiet([acme, globex, acmeLaptop]);

    const acmeIds = acmeEvents.map((event) => event.id);
    const globexIds = globexEvents.map((event) => event.id);
    for (const client of [acme, acmeLaptop]) {
      const log = await replica(client);
      expect(ids(log)).toEqual(acmeIds);
      expect(log.map((item) => item.version.toString())).toEqual(['1', '2']);
    }
    const globexLog = await replica(globex);
    expect(ids(globexLog)).toEqual(globexIds);
    expect(globexLog.map((item) => item.version.toString())).toEqual(['1']);
    expect(ids(await serverLog(server, GLOBEX))).toEqual(globexIds);
  });

  it("does not let a token of acme read or write globex's log, whatever the request says", async () => {
    const server = await start();
    const globex = server.client('globex-phone', GLOBEX);
    await globex.manager.append({ type: 'secret.noted', aggregateId: 'plan', data: { text: 'globex only' } });
    await globex.manager.sync();
    const sync = server.app.syncPath;

    expect(await serverLog(server, ACME)).toEqual([]);
    expect(await (await server.call(`${sync}/v1/version`, ACME)).json()).toEqual({ latest: '0' });
    // There is no way to name a tenant in a request: the token decides.
    const named = await server.call(`${sync}/v1/events?since=0&tenant=globex`, ACME);
    expect(named.status).toBe(400);
    expect(((await named.json()) as { code: string }).code).toBe('invalid_request');
    const pushed = await server.call(`${sync}/v1/events`, ACME, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        events: [new TestEvents({ clientId: 'intruder' }).make('plan', { metadata: { tenant: 'globex' } })],
      }),
    });
    expect(pushed.status).toBe(200);
    expect(((await pushed.json()) as { results: { status: string; code: string }[] }).results).toMatchObject([
      { status: 'rejected', code: 'forbidden' },
    ]);
    expect((await serverLog(server, GLOBEX)).map((item) => item.version)).toEqual(['1']);
    expect(await serverLog(server, ACME)).toEqual([]);

    // Ids are per tenant: pushing an id globex holds is neither `duplicate` nor `id_reused` for acme.
    const [globexEvent] = await globex.local.load(CursorVersion.ZERO);
    const copy = { ...globexEvent!.event, data: { text: 'acme guessed an id' } };
    const guessed = await server.call(`${sync}/v1/events`, ACME, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ events: [copy] }),
    });
    expect(((await guessed.json()) as { results: unknown[] }).results).toEqual([
      { id: copy.id, status: 'accepted', version: '1' },
    ]);
    expect((await serverLog(server, GLOBEX))[0]?.event).toEqual(globexEvent!.event);
    const stats = await server.call('/api/stats', ACME);
    expect(await stats.json()).toMatchObject({ tenant: 'acme', events: 1 });
  });

  it("streams each tenant's new events to that tenant's subscribers only", async () => {
    const server = await start();
    const acme = server.client('acme-phone', ACME);
    const globex = server.client('globex-phone', GLOBEX);
    const acmeBatches: LiveBatch[] = [];
    const globexBatches: LiveBatch[] = [];
    const acmeLive = new Promise<void>((resolve) => {
      acme.transport.subscribe((batch) => void acmeBatches.push(batch), {
        onStateChange: (state) => state === 'live' && resolve(),
      });
    });
    const globexLive = new Promise<void>((resolve) => {
      globex.transport.subscribe((batch) => void globexBatches.push(batch), {
        onStateChange: (state) => state === 'live' && resolve(),
      });
    });
    await Promise.all([acmeLive, globexLive]);

    const [acmeEvent] = await acme.manager.append({ type: 'todo.added', aggregateId: 'a', data: { t: 1 } });
    await acme.manager.sync();
    await until(() => acmeBatches.some((batch) => batch.events.length > 0));
    // Globex pushes after acme's event was delivered: its stream's first events are its own.
    const [globexEvent] = await globex.manager.append({ type: 'todo.added', aggregateId: 'g', data: { t: 2 } });
    await globex.manager.sync();
    await until(() => globexBatches.some((batch) => batch.events.length > 0));

    expect(acmeBatches.flatMap((batch) => ids(batch.events))).toEqual([acmeEvent?.id]);
    expect(globexBatches.flatMap((batch) => ids(batch.events))).toEqual([globexEvent?.id]);
  });

  it('answers a missing, unknown or malformed token with 401 problem+json and a Bearer challenge', async () => {
    const server = await start();
    const sync = server.app.syncPath;
    const push = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"events":[]}' };
    const attempts: [string, string | undefined, RequestInit, string][] = [
      [`${sync}/v1/events?since=0`, undefined, {}, 'Bearer realm="eventsync"'],
      [`${sync}/v1/events`, undefined, push, 'Bearer realm="eventsync"'],
      [`${sync}/v1/version`, 'not-a-token-of-ours', {}, 'Bearer realm="eventsync", error="invalid_token"'],
      [`${sync}/v1/stream`, 'not-a-token-of-ours', {}, 'Bearer realm="eventsync", error="invalid_token"'],
      [`${sync}/v1/events`, 'not-a-token-of-ours', push, 'Bearer realm="eventsync", error="invalid_token"'],
      [
        `${sync}/v1/version`,
        undefined,
        { headers: { Authorization: `Basic ${btoa(`acme:${ACME}`)}` } },
        'Bearer realm="eventsync", error="invalid_token"',
      ],
    ];
    for (const [path, token, init, challenge] of attempts) {
      const response = await server.call(path, token, init);
      expect(response.status, path).toBe(401);
      expect(response.headers.get('Content-Type')).toBe('application/problem+json');
      expect(response.headers.get('WWW-Authenticate')).toBe(challenge);
      expect(await response.json()).toMatchObject({ status: 401, code: 'unauthorized' });
    }
    // The sync endpoint's own health check needs no token.
    expect((await server.call(`${sync}/v1/health`)).status).toBe(200);

    const stranger = server.client('stranger', 'not-a-token-of-ours');
    await stranger.manager.append({ type: 'todo.added', aggregateId: 'x', data: {} });
    const error = await stranger.manager.sync().catch((caught: unknown) => caught);
    expect(isSyncError(error, 'unauthorized')).toBe(true);
    expect(await serverLog(server, ACME)).toEqual([]);
  });

  it('brings two devices of one tenant to the same log after concurrent edits of one todo', async () => {
    const server = await start();
    const phone = server.client('acme-phone', ACME);
    const laptop = server.client('acme-laptop', ACME_2);
    await phone.manager.append({ type: 'todo.added', aggregateId: 'todo-1', data: { title: 'Milk' } });
    await syncUntilQuiet([phone, laptop]);

    // Apart, both rename the same todo and add one of their own; the laptop edits later by the clock.
    await phone.manager.append([
      { type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Oat milk' } },
      { type: 'todo.added', aggregateId: 'phone-1', data: { title: 'Call mum' } },
    ]);
    await sleep(3);
    await laptop.manager.append([
      { type: 'todo.renamed', aggregateId: 'todo-1', data: { title: 'Soy milk' } },
      { type: 'todo.added', aggregateId: 'laptop-1', data: { title: 'Post letter' } },
    ]);
    expect(await phone.manager.sync()).toMatchObject({ pushed: 2, conflicts: 0 });
    const laptopSync = await laptop.manager.sync();
    expect(laptopSync.conflicts).toBe(1);
    await syncUntilQuiet([phone, laptop]);

    const log = await serverLog(server, ACME);
    expect(log.map((item) => item.version)).toEqual(log.map((_, i) => String(i + 1)));
    for (const client of [phone, laptop]) {
      const local = await replica(client);
      expect(local.map((item) => ({ version: item.version.toString(), event: item.event }))).toEqual(log);
    }
    const titles = new Map(log.map((item) => [item.event.aggregateId, (item.event.data as { title: string }).title]));
    expect(Object.fromEntries(titles)).toEqual({
      'todo-1': 'Soy milk',
      'phone-1': 'Call mum',
      'laptop-1': 'Post letter',
    });
  });
});

/** Waits until `check` holds, polling every 10 ms, for at most 3 s. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 3_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting for a condition');
    await sleep(10);
  }
}
