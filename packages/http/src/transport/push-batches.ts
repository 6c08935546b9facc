import { CallScope, isSyncError, partialPushError, SyncError, type AppendResult, type Event } from '@eventsync/core';
import type { PushChain } from '../protocol/wire.js';

/** What {@link pushBatches} needs of its transport. */
export interface PushBatchesOptions {
  /** The most events one request carries, until a `413` names a smaller limit. */
  readonly maxBatchSize: number;
  /** The most requests of one chain in flight at once; `1` sends one after the other, unchained. */
  readonly window: number;
  /** The caller's signal: aborts every request in flight. */
  readonly signal: AbortSignal | undefined;
  /** Whether pushes may still be chained on this transport. */
  readonly chaining: () => boolean;
  /** Told that this server cannot keep chains in order: no more chains on this transport. */
  readonly stopChaining: () => void;
  /** A fresh, unguessable chain id; `undefined` where there are no secure random numbers. */
  readonly chainId: () => string | undefined;
  /** The body of one request. Throws (nothing is sent) for events that cannot be sent. */
  readonly encode: (events: readonly Event[], chain: PushChain | undefined) => string;
  /**
   * Sends one request, aborted by `signal`, and answers per event, with the `chain` the answer
   * echoed (the answer's `chain`).
   */
  readonly send: (
    events: readonly Event[],
    body: string,
    signal: AbortSignal,
  ) => Promise<{ readonly results: AppendResult[]; readonly chain?: PushChain | undefined }>;
}

type ConflictResult = AppendResult & { status: 'conflict' };

/** One request of a push. */
interface BatchRequest {
  /** Where its events start in the push. */
  readonly start: number;
  /** Its slice of the push, `maxBatchSize` events or fewer. */
  readonly chunk: readonly Event[];
  /** Per event of `chunk`, whether it was sent (an aggregate known to be in conflict is not). */
  readonly sent: readonly boolean[];
  /** The chain and seq it went out with, when it went out as a member of a chain: what its answer must echo. */
  readonly link?: PushChain;
  readonly controller: AbortController;
  /** Settles once the request has: never rejects. */
  readonly answer: Promise<
    { readonly results: AppendResult[]; readonly chain?: PushChain | undefined } | { readonly error: unknown }
  >;
}

/**
 * Pushes `events` in batches of `maxBatchSize`, answering per event as if the batches had gone one
 * request after the other. When the push does not fit in one batch and the transport may chain, the
 * batches go as one push chain (a fresh id per chain), up to `window` requests in flight; answers
 * are used in order. An error answer stops the requests after it (the server decides none of them)
 * and, by what it says: `413` splits the batches further and goes on from there with a new chain;
 * `chain_unknown` or a refused `chain` stops chaining on the transport and goes on one request after
 * the other; `chain_broken` goes on with a new chain (once per batch, then unchained); anything else
 * fails the push with the results so far.
 */
export async function pushBatches(events: readonly Event[], options: PushBatchesOptions): Promise<AppendResult[]> {
  const results: AppendResult[] = [];
  const conflicted = new Map<string, ConflictResult>();
  const inFlight: BatchRequest[] = [];
  // One listener on the caller's signal, whatever the window: it aborts each request in turn.
  const call = new CallScope({ signals: [options.signal] });
  const onAbort = (): void => {
    for (const request of inFlight) request.controller.abort(call.signal.reason);
  };
  call.signal.addEventListener('abort', onAbort, { once: true });
  let size = options.maxBatchSize;
  /** Events before it are answered. */
  let done = 0;
  /** The first event not sent yet. */
  let next = 0;
  let chain: { id: string; seq: number } | undefined;
  /**
   * An answer of this chain echoed it: the server keeps chains in order. Until then a chain has one
   * request in flight, so a server that ignores chains never sees two of its pushes at once.
   */
  let confirmed = false;
  /** Set after a batch met `chain_broken` twice: the rest of this push goes unchained. */
  let unchained = false;
  const rechained = new Set<number>();

  /** Goes on from the first event not answered, with a new chain when it is worth one. */
  const restart = (): void => {
    next = done;
    chain = undefined;
    confirmed = false;
    if (unchained || options.window < 2 || !options.chaining() || events.length - done <= size) return;
    const id = options.chainId();
    if (id !== undefined) chain = { id, seq: 0 };
  };

  const send = (start: number): BatchRequest => {
    const chunk = events.slice(start, start + size);
    const sent = chunk.map((event) => !conflicted.has(event.aggregateId));
    const sending = chunk.filter((_, i) => sent[i]);
    const controller = new AbortController();
    const base = { start, chunk, sent, controller };
    if (sending.length === 0) return { ...base, answer: Promise.resolve({ results: [] }) };
    const link = chain && { id: chain.id, seq: chain.seq };
    let body: string;
    try {
      body = options.encode(sending, link);
    } catch (error) {
      return { ...base, answer: Promise.resolve({ error }) };
    }
    if (chain) chain.seq++;
    const answer = options.send(sending, body, controller.signal).then(
      (answered) => answered,
      (error: unknown) => ({ error }),
    );
    return { ...base, ...(link ? { link } : {}), answer };
  };

  /** Aborts the requests in flight and waits until they have settled. */
  const stop = async (reason: unknown): Promise<void> => {
    const stopping = inFlight.splice(0);
    for (const request of stopping) request.controller.abort(reason);
    await Promise.all(stopping.map((request) => request.answer));
  };

  const take = (request: BatchRequest, answered: readonly AppendResult[]): void => {
    let i = 0;
    request.chunk.forEach((event, j) => {
      const earlier = conflicted.get(event.aggregateId);
      const answer = request.sent[j] ? answered[i++] : undefined;
      // An aggregate that met a conflict in an earlier batch: the server answered conflict for it
      // (a chain carries conflicts), or it was not sent. Either way the same result as unchained.
      const result =
        earlier !== undefined && (answer === undefined || answer.status === 'conflict')
          ? carried(event, earlier)
          : (answer as AppendResult);
      if (result.status === 'conflict' && earlier === undefined) conflicted.set(event.aggregateId, result);
      results.push(result);
    });
  };

  try {
    restart();
    while (done < events.length) {
      if (call.signal.aborted) throw partialPushError(call.signal.reason, results, events.length);
      while (inFlight.length < (chain && confirmed ? options.window : 1) && next < events.length) {
        const request = send(next);
        inFlight.push(request);
        next += request.chunk.length;
        if (!request.link && chain) break; // nothing of it went out: take it before sending more
      }
      const request = inFlight[0] as BatchRequest;
      const answer = await request.answer;
      if ('results' in answer) {
        inFlight.shift();
        take(request, answer.results);
        done += request.chunk.length;
        if (request.link !== undefined) {
          if (answer.chain?.id === request.link.id && answer.chain.seq === request.link.seq) {
            confirmed = true;
          } else {
            // Decided, but not as a member of a chain (a server or proxy that drops the member):
            // no more chains here, and the rest goes one request after the other.
            options.stopChaining();
            chain = undefined;
          }
        }
        continue;
      }
      const { error } = answer;
      // The server decides none of the chain's later pushes after an error: stop waiting for them.
      await stop(new SyncError('aborted', 'An earlier request of this push failed'));
      const smaller = smallerSize(error, request.sent.filter(Boolean).length);
      const refused = request.link ? refusesChains(error) : undefined;
      if (smaller !== undefined) {
        size = smaller;
      } else if (request.link && isProblem(error, 'chain_unknown')) {
        options.stopChaining();
      } else if (request.link && isProblem(error, 'chain_broken')) {
        if (rechained.has(request.start)) unchained = true;
        rechained.add(request.start);
      } else if (refused === 'named') {
        options.stopChaining();
      } else if (refused === 'maybe') {
        // A 400 naming nothing: perhaps the chain, perhaps something else (a hook). Only this push
        // goes on unchained; if the batch is refused again, that answer fails it.
        unchained = true;
      } else {
        throw partialPushError(error, results, events.length);
      }
      restart();
    }
    return results;
  } finally {
    for (const request of inFlight) request.controller.abort(new SyncError('aborted', 'The push ended'));
    call.signal.removeEventListener('abort', onAbort);
    call.dispose();
  }
}

/** A fresh chain id: 128 random bits in hex, or `undefined` without `crypto.getRandomValues`. */
export function randomChainId(): string | undefined {
  const crypto = (globalThis as { crypto?: Pick<Crypto, 'getRandomValues'> }).crypto;
  if (typeof crypto?.getRandomValues !== 'function') return undefined;
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** The batch size a `413` asks for, or `undefined` when splitting cannot help. */
function smallerSize(error: unknown, sent: number): number | undefined {
  if (!isSyncError(error, 'limit_exceeded') || sent < 2) return undefined;
  const { limit, max } = error.details;
  if (limit === 'maxEventsPerPush' && typeof max === 'number' && max >= 1 && max < sent) return Math.floor(max);
  if (limit === 'maxBodyBytes') return Math.ceil(sent / 2);
  return undefined;
}

function isProblem(error: unknown, problem: 'chain_broken' | 'chain_unknown'): boolean {
  return isSyncError(error, 'unavailable') && error.details.problem === problem;
}

/**
 * Whether a `400 invalid_request` for a chained push refuses the chain: `'named'` when it names the
 * field `chain` (a server that does not take chains), `'maybe'` when it names no field (a server that
 * does not say; or a hook's error), `undefined` for a push refused for another field, or any other
 * error, which fails as any other.
 */
function refusesChains(error: unknown): 'named' | 'maybe' | undefined {
  if (!isSyncError(error, 'invalid_input')) return undefined;
  const { status, problem, field } = error.details;
  if (status !== 400 || problem !== 'invalid_request') return undefined;
  if (field === undefined) return 'maybe';
  return typeof field === 'string' && /^chain(\.|$)/.test(field) ? 'named' : undefined;
}

/** The result of an event whose aggregate met a conflict in an earlier batch of the push. */
function carried(event: Event, earlier: ConflictResult): AppendResult {
  return {
    id: event.id,
    status: 'conflict',
    latest: earlier.latest,
    reason: `An earlier event of aggregate ${event.aggregateId} in this push met a conflict`,
  };
}
