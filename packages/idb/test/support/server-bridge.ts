// The server of the Chromium tests: a MemoryServerEventLog in Node, reached from each page through a
// Playwright binding, which also tells which page called (to check that only the leader pushes).

import { CursorVersion, MemoryServerEventLog, type Event } from '@eventsync/core';
import type { BrowserContext, Page } from 'playwright-core';

/** A call from a page. */
export type BridgeRequest =
  | { readonly op: 'push'; readonly events: Event[] }
  | { readonly op: 'pull'; readonly since: number; readonly limit: number }
  | { readonly op: 'latest' };

/** An append result on the wire: versions as numbers. */
export interface WireAppendResult {
  readonly id: string;
  readonly status: 'accepted' | 'duplicate' | 'conflict' | 'rejected';
  readonly version?: number;
  readonly latest?: number;
  readonly code?: string;
  readonly reason?: string;
}

/** A pulled page on the wire. */
export interface WirePage {
  readonly events: { event: Event; version: number }[];
  readonly next: number;
  readonly hasMore: boolean;
}

const TENANT = 'tests';

/** The server log and who pushed what. */
export class ServerBridge {
  #log = new MemoryServerEventLog();
  /** The ids each page pushed, by page. */
  readonly pushes = new Map<Page, string[]>();

  /** The server's log. */
  get log(): MemoryServerEventLog {
    return this.#log;
  }

  /** Starts over with an empty log, forgetting who pushed what. */
  reset(): void {
    this.#log = new MemoryServerEventLog();
    this.pushes.clear();
  }

  /** Exposes the server to every page of `context` as `window.eventsyncServer`. */
  async install(context: BrowserContext): Promise<void> {
    await context.exposeBinding('eventsyncServer', ({ page }, request: BridgeRequest) => this.#handle(page, request));
  }

  /** The ids in the server log, in order. */
  async ids(): Promise<string[]> {
    return (await this.log.read(TENANT, { limit: 100_000 })).events.map((item) => item.event.id);
  }

  async #handle(page: Page, request: BridgeRequest): Promise<unknown> {
    switch (request.op) {
      case 'push': {
        this.pushes.set(page, [...(this.pushes.get(page) ?? []), ...request.events.map((event) => event.id)]);
        const results = await this.log.append(TENANT, request.events);
        return results.map((result): WireAppendResult =>
          result.status === 'accepted' || result.status === 'duplicate'
            ? { id: result.id, status: result.status, version: result.version.value }
            : result.status === 'conflict'
              ? { id: result.id, status: 'conflict', latest: result.latest.value, reason: result.reason }
              : { id: result.id, status: 'rejected', code: result.code, reason: result.reason },
        );
      }
      case 'pull': {
        const page = await this.log.read(TENANT, { since: CursorVersion.of(request.since), limit: request.limit });
        return {
          events: page.events.map(({ event, version }) => ({ event, version: version.value })),
          next: page.next.value,
          hasMore: page.hasMore,
        } satisfies WirePage;
      }
      case 'latest':
        return (await this.log.latestVersion(TENANT)).value;
    }
  }
}
