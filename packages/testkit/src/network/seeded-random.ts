/** A deterministic source of numbers in [0, 1): the same seed gives the same sequence. */
export type SeededRandom = () => number;

/**
 * mulberry32: a tiny 32-bit generator, plenty for choosing faults (not for anything secret). Each
 * `parts` item (a client id, a stream name) is hashed into the seed, so every stream is independent
 * of the others and of how their draws interleave.
 */
export function seededRandom(seed: number, ...parts: string[]): SeededRandom {
  let state = hash(`${seed}`, 0x811c9dc5);
  for (const part of parts) state = hash(`\u0000${part}`, state);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the UTF-16 code units of `text`, from `basis`. */
function hash(text: string, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
