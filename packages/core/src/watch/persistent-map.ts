/**
 * An immutable map from strings to values (a hash array mapped trie, without bitmap compression):
 * `set` and `delete` return a new map that shares all but one path of nodes with the old one, in
 * O(log₃₂ n); `diff` between two versions skips every shared subtree, so it costs about the size of
 * the change, not of the map.
 */
export class PersistentMap<V> {
  static empty<V>(hash: (key: string) => number = fnv1a): PersistentMap<V> {
    return new PersistentMap<V>(undefined, 0, hash);
  }

  readonly size: number;
  readonly #root: Node<V> | undefined;
  readonly #hash: (key: string) => number;

  private constructor(root: Node<V> | undefined, size: number, hash: (key: string) => number) {
    this.#root = root;
    this.size = size;
    this.#hash = hash;
  }

  get(key: string): V | undefined {
    const hash = this.#hash(key);
    let node = this.#root;
    for (let shift = 0; node !== undefined; shift += BITS) {
      if (node instanceof Leaf) {
        if (node.hash !== hash) return undefined;
        const index = node.keys.indexOf(key);
        return index < 0 ? undefined : node.values[index];
      }
      node = node.children[(hash >>> shift) & MASK];
    }
    return undefined;
  }

  has(key: string): boolean {
    const hash = this.#hash(key);
    let node = this.#root;
    for (let shift = 0; node !== undefined; shift += BITS) {
      if (node instanceof Leaf) return node.hash === hash && node.keys.includes(key);
      node = node.children[(hash >>> shift) & MASK];
    }
    return false;
  }

  /** This map with `key` set to `value`; this same map when `key` already holds `value` (`Object.is`). */
  set(key: string, value: V): PersistentMap<V> {
    const added = { value: false };
    const root = set(this.#root, 0, this.#hash(key), key, value, added);
    return root === this.#root ? this : new PersistentMap(root, this.size + (added.value ? 1 : 0), this.#hash);
  }

  /** This map without `key`; this same map when it has no `key`. */
  delete(key: string): PersistentMap<V> {
    const root = remove(this.#root, 0, this.#hash(key), key);
    return root === this.#root ? this : new PersistentMap(root, this.size - 1, this.#hash);
  }

  *entries(): IterableIterator<[string, V]> {
    if (this.#root !== undefined) yield* entries(this.#root);
  }

  /**
   * Calls `visit` for every key whose value differs (by reference) between this map and `next`:
   * `before` is absent (`hadBefore` false) for an added key, `after` for a removed one.
   */
  diff(next: PersistentMap<V>, visit: (key: string, change: EntryChange<V>) => void): void {
    diffNodes(this.#root, next.#root, 0, visit);
  }
}

/** How one key differs between two maps. */
export type EntryChange<V> =
  | { readonly before?: undefined; readonly after: V; readonly type: 'added' }
  | { readonly before: V; readonly after?: undefined; readonly type: 'removed' }
  | { readonly before: V; readonly after: V; readonly type: 'changed' };

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;

class Leaf<V> {
  constructor(
    readonly hash: number,
    /** Usually one key; more only when full 32-bit hashes collide. */
    readonly keys: readonly string[],
    readonly values: readonly V[],
  ) {}
}

class Branch<V> {
  constructor(
    readonly children: readonly (Node<V> | undefined)[],
    /** How many children are present. */
    readonly count: number,
  ) {}
}

type Node<V> = Leaf<V> | Branch<V>;

function set<V>(
  node: Node<V> | undefined,
  shift: number,
  hash: number,
  key: string,
  value: V,
  added: { value: boolean },
): Node<V> {
  if (node === undefined) {
    added.value = true;
    return new Leaf(hash, [key], [value]);
  }
  if (node instanceof Leaf) {
    if (node.hash === hash) {
      const index = node.keys.indexOf(key);
      if (index >= 0) {
        if (Object.is(node.values[index], value)) return node;
        const values = node.values.slice();
        values[index] = value;
        return new Leaf(hash, node.keys, values);
      }
      added.value = true;
      return new Leaf(hash, [...node.keys, key], [...node.values, value]);
    }
    added.value = true;
    return split(node, new Leaf(hash, [key], [value]), shift);
  }
  const index = (hash >>> shift) & MASK;
  const child = node.children[index];
  const updated = set(child, shift + BITS, hash, key, value, added);
  if (updated === child) return node;
  const children = node.children.slice();
  children[index] = updated;
  return new Branch(children, node.count + (child === undefined ? 1 : 0));
}

/** A branch holding two leaves of different hashes, as deep as their hashes agree. */
function split<V>(a: Leaf<V>, b: Leaf<V>, shift: number): Branch<V> {
  const children = new Array<Node<V> | undefined>(WIDTH).fill(undefined);
  const indexA = (a.hash >>> shift) & MASK;
  const indexB = (b.hash >>> shift) & MASK;
  if (indexA === indexB) {
    children[indexA] = split(a, b, shift + BITS);
    return new Branch(children, 1);
  }
  children[indexA] = a;
  children[indexB] = b;
  return new Branch(children, 2);
}

function remove<V>(node: Node<V> | undefined, shift: number, hash: number, key: string): Node<V> | undefined {
  if (node === undefined) return undefined;
  if (node instanceof Leaf) {
    if (node.hash !== hash) return node;
    const index = node.keys.indexOf(key);
    if (index < 0) return node;
    if (node.keys.length === 1) return undefined;
    return new Leaf(
      hash,
      node.keys.filter((_, i) => i !== index),
      node.values.filter((_, i) => i !== index),
    );
  }
  const index = (hash >>> shift) & MASK;
  const child = node.children[index];
  const updated = remove(child, shift + BITS, hash, key);
  if (updated === child) return node;
  const count = node.count - (updated === undefined ? 1 : 0);
  if (count === 0) return undefined;
  const children = node.children.slice();
  children[index] = updated;
  if (count === 1) {
    // A branch left with one leaf is that leaf: leaves carry their full hash and fit at any depth.
    const only = children.find((item) => item !== undefined);
    if (only instanceof Leaf) return only;
  }
  return new Branch(children, count);
}

function* entries<V>(node: Node<V>): Generator<[string, V]> {
  if (node instanceof Leaf) {
    for (let i = 0; i < node.keys.length; i++) yield [node.keys[i] as string, node.values[i] as V];
    return;
  }
  for (const child of node.children) if (child !== undefined) yield* entries(child);
}

function diffNodes<V>(
  before: Node<V> | undefined,
  after: Node<V> | undefined,
  shift: number,
  visit: (key: string, change: EntryChange<V>) => void,
): void {
  if (before === after) return;
  if (before instanceof Branch && after instanceof Branch) {
    for (let i = 0; i < WIDTH; i++) diffNodes(before.children[i], after.children[i], shift + BITS, visit);
    return;
  }
  // A leaf on one side (or nothing): its few entries against the other side's subtree.
  const old = new Map(before === undefined ? [] : entries(before));
  if (after !== undefined) {
    for (const [key, value] of entries(after)) {
      if (!old.has(key)) visit(key, { type: 'added', after: value });
      else {
        const previous = old.get(key) as V;
        old.delete(key);
        if (!Object.is(previous, value)) visit(key, { type: 'changed', before: previous, after: value });
      }
    }
  }
  for (const [key, value] of old) visit(key, { type: 'removed', before: value });
}

/** FNV-1a over UTF-16 code units: quick, and spreads short keys well. */
export function fnv1a(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
