/**
 * A Bloom filter over strings, stored as bytes: `mightHave` is never wrong when it says no. With
 * {@link BITS_PER_ITEM} bits per item and {@link HASHES} hashes it says yes wrongly about once in
 * two thousand times, so a reader skips nearly every segment that does not hold an aggregate.
 */
export const BITS_PER_ITEM = 16;
export const HASHES = 11;

/** A filter holding `items`. */
export function bloomOf(items: Iterable<string>, count: number): Uint8Array {
  const bits = Math.max(64, roundUpToPowerOfTwo(count * BITS_PER_ITEM));
  const filter = new Uint8Array(bits >>> 3);
  for (const item of items) {
    const [h1, h2] = hashPair(item);
    for (let i = 0; i < HASHES; i++) {
      const bit = (h1 + Math.imul(i, h2)) & (bits - 1);
      filter[bit >>> 3]! |= 1 << (bit & 7);
    }
  }
  return filter;
}

/** Whether `item` may be in `filter` (made by {@link bloomOf} with `hashes` hashes). */
export function mightHave(filter: Uint8Array, hashes: number, item: string): boolean {
  const bits = filter.length << 3;
  const [h1, h2] = hashPair(item);
  for (let i = 0; i < hashes; i++) {
    const bit = (h1 + Math.imul(i, h2)) & (bits - 1);
    if ((filter[bit >>> 3]! & (1 << (bit & 7))) === 0) return false;
  }
  return true;
}

function roundUpToPowerOfTwo(value: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, value)));
}

// Two 32-bit hashes (FNV-1a and a multiplicative mix of it) for double hashing; the second is odd,
// so its multiples reach every bit of a power-of-two table.
function hashPair(text: string): [number, number] {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  let g = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  g = Math.imul(g ^ (g >>> 13), 0xc2b2ae35);
  g ^= g >>> 16;
  return [h >>> 0, (g | 1) >>> 0];
}
