/** Fixed-width ids (26-character ULIDs) packed into one string, and JSON texts packed with offsets. */

export const ID_LENGTH = 26;

/** The `index`th id of a packed id string. */
export function idAt(ids: string, index: number): string {
  return ids.slice(index * ID_LENGTH, (index + 1) * ID_LENGTH);
}

/** The ids of a packed id string. */
export function unpackIds(ids: string): string[] {
  const list = new Array<string>(ids.length / ID_LENGTH);
  for (let i = 0; i < list.length; i++) list[i] = idAt(ids, i);
  return list;
}

/** JSON texts joined by commas, with where each starts (and, last, where the final one ends). */
export function packTexts(texts: readonly string[]): { text: string; offsets: Uint32Array } {
  const offsets = new Uint32Array(texts.length + 1);
  let at = 0;
  texts.forEach((text, i) => {
    offsets[i] = at;
    at += text.length + 1;
  });
  offsets[texts.length] = Math.max(0, at - 1);
  return { text: texts.join(','), offsets };
}

/** The `index`th text of packed texts. */
export function textAt(text: string, offsets: Uint32Array, index: number): string {
  // Every text but the last is followed by its comma.
  const end = index + 1 === offsets.length - 1 ? offsets[index + 1]! : offsets[index + 1]! - 1;
  return text.slice(offsets[index], end);
}

/** Every text of packed texts. */
export function unpackTexts(text: string, offsets: Uint32Array): string[] {
  const count = offsets.length - 1;
  const list = new Array<string>(count);
  for (let i = 0; i < count; i++) list[i] = textAt(text, offsets, i);
  return list;
}
