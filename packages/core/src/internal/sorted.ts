/** The index at which `item` goes in `items` (sorted by `compare`) so that order holds: after equals. */
export function insertionIndex<T>(items: readonly T[], item: T, compare: (a: T, b: T) => number): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compare(items[mid] as T, item) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The index of the first item of `items` (sorted) for which `isAfter` holds; `items.length` if none. */
export function firstIndexWhere<T>(items: readonly T[], isAfter: (item: T) => boolean): number {
  let low = 0;
  let high = items.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (isAfter(items[mid] as T)) high = mid;
    else low = mid + 1;
  }
  return low;
}
