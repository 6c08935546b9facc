/** A FIFO queue with O(1) amortised `push` and `shift` (an array with a moving head). */
export class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  /** The first item, removed; `undefined` when empty. */
  shift(): T | undefined {
    if (this.#head === this.#items.length) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes every item and returns them in order. */
  clear(): T[] {
    const items = this.#items.slice(this.#head) as T[];
    this.#items = [];
    this.#head = 0;
    return items;
  }

  /** Takes out the items for which `drop` holds and returns them in order; the others stay in order. */
  remove(drop: (item: T) => boolean): T[] {
    const kept: T[] = [];
    const removed: T[] = [];
    for (const item of this.clear()) (drop(item) ? removed : kept).push(item);
    this.#items = kept;
    return removed;
  }
}
