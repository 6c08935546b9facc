import { SyncError } from '../errors/sync-error.js';
import { describeValue } from '../internal/describe.js';
import type { Version } from './version.js';

/** How two vector clocks relate causally. */
export type CausalRelation = 'before' | 'after' | 'equal' | 'concurrent';

/** Options of {@link VectorClock}. */
export interface VectorClockOptions {
  /**
   * The most nodes one clock may hold. A clock grows by one entry per writer it has heard of, so an
   * unbounded clock is a memory leak in disguise; past the bound, operations throw
   * `SyncError('limit_exceeded')`.
   *
   * @defaultValue 64
   */
  readonly maxNodes?: number;
}

/** The defaults of {@link VectorClockOptions}. */
export const DEFAULT_VECTOR_CLOCK_OPTIONS: Required<VectorClockOptions> = { maxNodes: 64 };

const NODE_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const ENTRY = /^([A-Za-z0-9_.:-]{1,128})=([1-9][0-9]*)$/;

/**
 * A vector clock: one counter per node, for peer-to-peer transports where no server orders events.
 *
 * Clocks are immutable: `increment` and `merge` return new clocks. Besides the causal relation
 * (`happenedBefore`, `concurrentWith`, `relation`), `compare` gives a total order that extends
 * happened-before (by the sum of the counters, then by the string form), so clocks can be sorted.
 *
 * The string form lists the non-zero counters sorted by node: `{a=2,b=1}`; the zero clock is `{}`.
 *
 * @example
 * ```ts
 * const a = VectorClock.zero().increment('alice');
 * const b = a.increment('bob');
 * a.happenedBefore(b); // true
 * VectorClock.parse(b.toString()).equals(b); // true
 * ```
 */
export class VectorClock implements Version {
  readonly #entries: ReadonlyMap<string, number>;
  readonly #maxNodes: number;
  #sum: number | undefined;
  #string: string | undefined;

  private constructor(entries: ReadonlyMap<string, number>, maxNodes: number) {
    this.#entries = entries;
    this.#maxNodes = maxNodes;
  }

  /** The clock where nothing has happened yet. */
  static zero(options: VectorClockOptions = {}): VectorClock {
    return new VectorClock(new Map(), resolveMaxNodes(options));
  }

  /**
   * Builds a clock from `{ node: counter }`; zero counters are dropped.
   *
   * @throws SyncError `invalid_input` for a bad node id or counter, `limit_exceeded` past `maxNodes`.
   */
  static from(counters: Readonly<Record<string, number>>, options: VectorClockOptions = {}): VectorClock {
    const maxNodes = resolveMaxNodes(options);
    const entries = new Map<string, number>();
    for (const [node, counter] of Object.entries(counters)) {
      checkNode(node);
      if (!Number.isSafeInteger(counter) || counter < 0) {
        throw new SyncError('invalid_input', `Vector clock counter for ${node} must be a non-negative integer`, {
          details: { field: `version.${node}` },
        });
      }
      if (counter > 0) entries.set(node, counter);
    }
    checkSize(entries.size, maxNodes);
    return new VectorClock(sortEntries(entries), maxNodes);
  }

  /**
   * Parses the canonical string form `{node=counter,…}` (nodes sorted, counters positive).
   *
   * @throws SyncError `invalid_input` for any other string; `limit_exceeded` past `maxNodes`.
   */
  static parse(value: string, options: VectorClockOptions = {}): VectorClock {
    const maxNodes = resolveMaxNodes(options);
    const bad = (why: string): SyncError =>
      new SyncError('invalid_input', `Not a vector clock: ${describeValue(value)} (${why})`, {
        details: { field: 'version' },
      });
    if (typeof value !== 'string' || !value.startsWith('{') || !value.endsWith('}')) {
      throw bad('expected a form like "{a=1,b=2}"');
    }
    const body = value.slice(1, -1);
    const entries = new Map<string, number>();
    if (body !== '') {
      let previous: string | undefined;
      for (const part of body.split(',')) {
        const match = ENTRY.exec(part);
        if (!match) throw bad(`bad entry ${JSON.stringify(part)}`);
        const node = match[1] as string;
        const counter = Number(match[2]);
        if (!Number.isSafeInteger(counter)) throw bad(`counter of ${node} is too large`);
        if (previous !== undefined && node <= previous) throw bad('nodes must be sorted and unique');
        entries.set(node, counter);
        previous = node;
      }
    }
    checkSize(entries.size, maxNodes);
    return new VectorClock(entries, maxNodes);
  }

  /** The counter of `node` (0 when the clock has not heard of it). */
  get(node: string): number {
    return this.#entries.get(node) ?? 0;
  }

  /** The nodes with a non-zero counter, sorted. */
  nodes(): string[] {
    return [...this.#entries.keys()];
  }

  /** The counters as a plain object. */
  toObject(): Record<string, number> {
    return Object.fromEntries(this.#entries);
  }

  /**
   * The clock after `node` did something.
   *
   * @throws SyncError `invalid_input` for a bad node id, `limit_exceeded` when a new node would pass `maxNodes`.
   */
  increment(node: string): VectorClock {
    checkNode(node);
    const entries = new Map(this.#entries);
    entries.set(node, this.get(node) + 1);
    checkSize(entries.size, this.#maxNodes);
    return new VectorClock(sortEntries(entries), this.#maxNodes);
  }

  /**
   * The least clock that both clocks happened before or equal (the entry-wise maximum).
   *
   * @throws SyncError `limit_exceeded` when the union of nodes passes `maxNodes`.
   */
  merge(other: VectorClock): VectorClock {
    const entries = new Map(this.#entries);
    for (const [node, counter] of other.#entries) {
      if (counter > (entries.get(node) ?? 0)) entries.set(node, counter);
    }
    checkSize(entries.size, this.#maxNodes);
    return new VectorClock(sortEntries(entries), this.#maxNodes);
  }

  /** How this clock relates to `other` causally. */
  relation(other: VectorClock): CausalRelation {
    let less = false;
    let greater = false;
    for (const node of new Set([...this.#entries.keys(), ...other.#entries.keys()])) {
      const mine = this.get(node);
      const theirs = other.get(node);
      if (mine < theirs) less = true;
      else if (mine > theirs) greater = true;
      if (less && greater) return 'concurrent';
    }
    if (less) return 'before';
    if (greater) return 'after';
    return 'equal';
  }

  /** Whether everything this clock has seen, `other` has seen too, and more. */
  happenedBefore(other: VectorClock): boolean {
    return this.relation(other) === 'before';
  }

  /** Whether neither clock happened before the other and they differ. */
  concurrentWith(other: VectorClock): boolean {
    return this.relation(other) === 'concurrent';
  }

  /** Whether both clocks hold the same counters. */
  equals(other: Version): boolean {
    return other instanceof VectorClock && this.relation(other) === 'equal';
  }

  /**
   * A total order that extends happened-before: -1 if this clock happened before `other`, 1 if after,
   * 0 if equal; concurrent clocks are ordered by the sum of their counters, then by their string form.
   *
   * @throws SyncError `invalid_input` when `other` is not a vector clock.
   */
  compare(other: Version): -1 | 0 | 1 {
    if (!(other instanceof VectorClock)) {
      throw new SyncError('invalid_input', `Cannot compare a vector clock with ${describeValue(other)}`);
    }
    const relation = this.relation(other);
    if (relation === 'equal') return 0;
    if (relation === 'before') return -1;
    if (relation === 'after') return 1;
    const bySum = this.#total() - other.#total();
    if (bySum !== 0) return bySum < 0 ? -1 : 1;
    return this.toString() < other.toString() ? -1 : 1;
  }

  isZero(): boolean {
    return this.#entries.size === 0;
  }

  toString(): string {
    this.#string ??= `{${[...this.#entries].map(([node, counter]) => `${node}=${counter}`).join(',')}}`;
    return this.#string;
  }

  /** The canonical string form, as `toString()` gives it: how a clock travels in JSON. */
  toJSON(): string {
    return this.toString();
  }

  #total(): number {
    if (this.#sum === undefined) {
      let sum = 0;
      for (const counter of this.#entries.values()) sum += counter;
      this.#sum = sum;
    }
    return this.#sum;
  }
}

function resolveMaxNodes(options: VectorClockOptions): number {
  const maxNodes = options.maxNodes ?? DEFAULT_VECTOR_CLOCK_OPTIONS.maxNodes;
  if (!Number.isSafeInteger(maxNodes) || maxNodes < 1) {
    throw new SyncError('invalid_input', `maxNodes must be a positive integer, got ${String(maxNodes)}`, {
      details: { field: 'maxNodes' },
    });
  }
  return maxNodes;
}

function checkNode(node: string): void {
  if (typeof node !== 'string' || !NODE_ID.test(node)) {
    throw new SyncError(
      'invalid_input',
      `Vector clock node ids are 1 to 128 characters of A-Z a-z 0-9 _ . : -, got ${JSON.stringify(node)}`,
      { details: { field: 'node' } },
    );
  }
}

function checkSize(size: number, maxNodes: number): void {
  if (size > maxNodes) {
    throw new SyncError(
      'limit_exceeded',
      `A vector clock may hold at most ${maxNodes} nodes, this one would hold ${size}`,
      {
        details: { limit: 'maxNodes', max: maxNodes, actual: size },
      },
    );
  }
}

function sortEntries(entries: Map<string, number>): Map<string, number> {
  return new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
