import { SyncError, type AppendResult, type CursorVersion } from '@eventsync/core';
import type { PushChain } from '@eventsync/http';

/** The longest delay `setTimeout` keeps (2^31 − 1 ms); a longer wait simply checks again. */
const MAX_TIMER_MS = 2_147_483_647;

/** How long a chain is remembered after its last push was decided, in milliseconds. */
export const PUSH_CHAIN_TTL_MS = 60_000;

/** The default {@link PushChainsOptions.unseenWaitMs}: 1 s for a push of a chain this node never saw. */
export const PUSH_CHAIN_UNSEEN_WAIT_MS = 1_000;

/** Options of {@link PushChains}. */
export interface PushChainsOptions {
  /** How long a push waits for the chain's previous push to be decided, in milliseconds. */
  readonly waitMs: number;
  /**
   * How long a push waits, at most, while this node has seen no push of its chain, in milliseconds.
   * A client sends a chain's first push alone and the next ones only once it was answered, so a
   * later push of a chain this node never saw follows pushes that went to another node (several
   * nodes without sticky routing), or a chain this node forgot: waiting `waitMs` would only delay
   * its `chain_unknown`. Once a push of the chain arrives, the wait is `waitMs` from the push's arrival.
   *
   * @defaultValue {@link PUSH_CHAIN_UNSEEN_WAIT_MS}, or `waitMs` when shorter
   */
  readonly unseenWaitMs?: number;
  /** The most chains remembered at once; past it, the chain idle the longest is forgotten. */
  readonly maxChains: number;
  /**
   * The most chains of one tenant remembered at once; past it, that tenant's chain idle the longest
   * is forgotten (so that one tenant cannot push every other tenant's chains out).
   *
   * @defaultValue `maxChains`
   */
  readonly maxChainsPerTenant?: number;
  /** How long a chain is remembered after its last push, in milliseconds. @defaultValue {@link PUSH_CHAIN_TTL_MS} */
  readonly ttlMs?: number;
  /** The clock, in milliseconds. @defaultValue `Date.now` */
  readonly now?: () => number;
}

/** What a chain remembers between its pushes. */
interface ChainState {
  /** The seq whose turn it is: every push before it was decided. */
  next: number;
  /** A push holds the turn (being decided). */
  busy: boolean;
  /**
   * The lowest seq that failed or was refused before it was decided (`Infinity` while none did):
   * the pushes after it are refused, the ones before it go on.
   */
  brokenAt: number;
  /** Aggregates that met a `conflict` earlier in the chain, with the result's `latest`. */
  readonly blocked: Map<string, CursorVersion>;
  /** When the chain may be forgotten. */
  expiresAt: number;
}

/**
 * A push's turn in its chain: the pushes before it were decided, and nothing else of the chain runs
 * until {@link ChainTurn.done} or {@link ChainTurn.fail}.
 */
export interface ChainTurn {
  /** Aggregates that met a `conflict` in an earlier push of the chain: their events are `conflict` too. */
  readonly blocked: ReadonlyMap<string, CursorVersion>;
  /**
   * The push was decided: records the aggregates of `results` that met a `conflict` (`aggregateOf(i)`
   * names the aggregate of result `i`) and gives the turn to the next push.
   */
  done(results: readonly AppendResult[], aggregateOf: (index: number) => string | undefined): void;
  /** The push failed after taking its turn: the chain is broken. */
  fail(): void;
}

/**
 * The push chains of one server node: a client sends the batches of one push as pushes `0, 1, 2, …`
 * of a chain without waiting for each answer, and they are decided here one after the other, in
 * `seq` order, as if they had come one request after the other (docs/protocol.md, "Push chains").
 *
 * Chains are kept in this process only: on several server nodes a chain works when its requests
 * reach the same node (which keep-alive connections usually do); a push whose predecessor never
 * reached this node is answered `chain_unknown`, and the client goes on without chains.
 */
export class PushChains {
  readonly #chains = new Map<string, ChainState>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #waitMs: number;
  readonly #unseenWaitMs: number;
  readonly #maxChains: number;
  readonly #maxChainsPerTenant: number;
  /** How many chains each tenant has in `#chains`. */
  readonly #perTenant = new Map<string, number>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: PushChainsOptions) {
    this.#waitMs = options.waitMs;
    const unseen = options.unseenWaitMs ?? PUSH_CHAIN_UNSEEN_WAIT_MS;
    if (!(unseen >= 0) || !Number.isFinite(unseen)) {
      throw new SyncError(
        'invalid_input',
        `unseenWaitMs must be a number of milliseconds, 0 or more, got ${String(unseen)}`,
        {
          details: { field: 'unseenWaitMs' },
        },
      );
    }
    this.#unseenWaitMs = Math.min(unseen, options.waitMs);
    this.#maxChains = options.maxChains;
    this.#maxChainsPerTenant = options.maxChainsPerTenant ?? options.maxChains;
    this.#ttlMs = options.ttlMs ?? PUSH_CHAIN_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** How many chains are remembered. */
  get size(): number {
    this.#sweep();
    return this.#chains.size;
  }

  /** How many pushes are waiting for their turn. */
  get waiting(): number {
    let count = 0;
    for (const waiters of this.#waiters.values()) count += waiters.size;
    return count;
  }

  /**
   * Waits for push `chain.seq` of `tenant`'s chain `chain.id` to have its turn: at once for seq 0,
   * otherwise once the push before it was decided on this node (waiting `unseenWaitMs` at most while
   * no push of the chain reached this node, `waitMs` once one did).
   *
   * @throws SyncError `conflict` with `details.problem` `chain_broken` (an earlier push of the chain
   *   failed or was refused, or this seq was used already) or `chain_unknown` (the previous push was
   *   not decided here within the wait); the abort reason when `signal` aborts first (an `Error`: a
   *   reason that is not one comes as the `cause` of a `SyncError('aborted')`).
   */
  async turn(tenant: string, chain: PushChain, signal?: AbortSignal): Promise<ChainTurn> {
    const key = chainKey(tenant, chain.id);
    this.#sweep();
    if (chain.seq === 0) {
      if (this.#chains.has(key)) throw broken(chain, 'its id was used already');
      this.#remember(key, { next: 0, busy: false, brokenAt: Infinity, blocked: new Map(), expiresAt: 0 });
    }
    const arrived = this.#now();
    let seen = this.#chains.has(key);
    let deadline = arrived + (seen ? this.#waitMs : this.#unseenWaitMs);
    for (;;) {
      if (signal?.aborted) throw aborted(signal);
      const state = this.#chains.get(key);
      if (!seen && state !== undefined) {
        seen = true;
        deadline = arrived + this.#waitMs;
      }
      if (state !== undefined && state.brokenAt <= chain.seq) {
        throw broken(chain, `push ${state.brokenAt} of the chain failed or was refused`);
      }
      if (state !== undefined && state.next > chain.seq) throw broken(chain, `push ${chain.seq} was decided already`);
      if (state !== undefined && state.next === chain.seq && !state.busy) return this.#take(key, state);
      const left = deadline - this.#now();
      if (left <= 0) {
        throw new SyncError(
          'conflict',
          seen
            ? `Push ${chain.seq} of chain ${chain.id} waited ${this.#waitMs} ms for push ${chain.seq - 1}, which this server did not decide`
            : `Push ${chain.seq} of chain ${chain.id} waited ${this.#unseenWaitMs} ms, and no earlier push of the chain reached this server`,
          { details: { problem: 'chain_unknown', status: 409 } },
        );
      }
      await this.#changed(key, left, signal);
    }
  }

  /**
   * Marks the chain broken at `seq` when that push is refused before it took its turn (a body over a
   * limit, an event too large): its later pushes are then refused at once rather than waiting, and
   * its earlier ones still go on. A seq decided already, or whose turn another request of the same
   * seq holds (a repeated request), is left alone.
   */
  fail(tenant: string, chain: PushChain): void {
    const key = chainKey(tenant, chain.id);
    const state = this.#chains.get(key);
    if (state === undefined) {
      // Its later pushes may already be waiting for a chain this node never saw start.
      if (chain.seq > 0) return;
      this.#remember(key, { next: 0, busy: false, brokenAt: 0, blocked: new Map(), expiresAt: 0 });
    } else if (chain.seq > state.next || (chain.seq === state.next && !state.busy)) {
      state.brokenAt = Math.min(state.brokenAt, chain.seq);
    }
    this.#wake(key);
  }

  #take(key: string, state: ChainState): ChainTurn {
    state.busy = true;
    let finished = false;
    const finish = (): void => {
      finished = true;
      state.busy = false;
      state.expiresAt = this.#now() + this.#ttlMs;
      this.#remember(key, state);
      this.#wake(key);
    };
    return {
      blocked: state.blocked,
      done: (results, aggregateOf) => {
        if (finished) return;
        results.forEach((result, index) => {
          if (result.status !== 'conflict') return;
          const aggregateId = aggregateOf(index);
          if (aggregateId !== undefined && !state.blocked.has(aggregateId))
            state.blocked.set(aggregateId, result.latest);
        });
        state.next++;
        finish();
      },
      fail: () => {
        if (finished) return;
        state.brokenAt = Math.min(state.brokenAt, state.next);
        finish();
      },
    };
  }

  /**
   * Stores `state` as the most recently used chain, forgetting the tenant's oldest past
   * `maxChainsPerTenant` and the oldest of all past `maxChains`. A chain in use (a push holds its
   * turn, or waits for it) is never forgotten for room: the bounds may be passed by the chains in use,
   * which the requests in flight bound.
   */
  #remember(key: string, state: ChainState): void {
    if (state.expiresAt === 0) state.expiresAt = this.#now() + this.#ttlMs;
    const known = this.#chains.delete(key);
    this.#chains.set(key, state);
    if (known) return;
    const tenant = tenantOf(key);
    const count = (this.#perTenant.get(tenant) ?? 0) + 1;
    this.#perTenant.set(tenant, count);
    if (count > this.#maxChainsPerTenant) {
      for (const [other, chain] of this.#chains) {
        if (other !== key && tenantOf(other) === tenant && this.#idle(other, chain)) {
          this.#forget(other);
          break;
        }
      }
    }
    if (this.#chains.size <= this.#maxChains) return;
    for (const [other, chain] of this.#chains) {
      if (other !== key && this.#idle(other, chain)) this.#forget(other);
      if (this.#chains.size <= this.#maxChains) return;
    }
  }

  /** Whether no push holds the chain's turn or waits for it: it may be forgotten for room. */
  #idle(key: string, state: ChainState): boolean {
    return !state.busy && !this.#waiters.has(key);
  }

  #forget(key: string): void {
    if (!this.#chains.delete(key)) return;
    const tenant = tenantOf(key);
    const count = (this.#perTenant.get(tenant) ?? 1) - 1;
    if (count > 0) this.#perTenant.set(tenant, count);
    else this.#perTenant.delete(tenant);
    this.#wake(key);
  }

  /** Forgets chains past their time, unless a push holds their turn. */
  #sweep(): void {
    const now = this.#now();
    for (const [key, state] of this.#chains) {
      if (state.expiresAt > now) break; // in the order of last use: the rest are younger
      if (state.busy) continue;
      this.#forget(key);
    }
  }

  #changed(key: string, ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let waiters = this.#waiters.get(key);
      if (!waiters) this.#waiters.set(key, (waiters = new Set()));
      const settle = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        waiters.delete(wake);
        if (waiters.size === 0 && this.#waiters.get(key) === waiters) this.#waiters.delete(key);
      };
      const wake = (): void => {
        settle();
        resolve();
      };
      const onAbort = (): void => {
        settle();
        reject(aborted(signal!));
      };
      const timer = setTimeout(wake, Math.min(ms, MAX_TIMER_MS));
      waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #wake(key: string): void {
    const waiters = this.#waiters.get(key);
    if (waiters) for (const wake of [...waiters]) wake();
  }
}

function chainKey(tenant: string, id: string): string {
  return `${tenant}\u0000${id}`;
}

function tenantOf(key: string): string {
  return key.slice(0, key.lastIndexOf('\u0000'));
}

/** The error of a wait its request's signal ended: the reason when it is an `Error` (some runtimes give a string). */
function aborted(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new SyncError('aborted', 'The request ended while its push waited for its turn in the chain', {
    cause: reason,
  });
}

function broken(chain: PushChain, why: string): SyncError {
  return new SyncError('conflict', `Push ${chain.seq} of chain ${chain.id} cannot be decided: ${why}`, {
    details: { problem: 'chain_broken', status: 409 },
  });
}
