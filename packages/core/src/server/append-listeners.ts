import type { AppendNotice } from './server-event-log.js';

/** The listeners of a server log: told in order, each shielded from the others' failures. */
export class AppendListeners {
  readonly #listeners = new Set<(notice: AppendNotice) => void>();

  /** Adds a listener; returns its idempotent remover. */
  add(listener: (notice: AppendNotice) => void): () => void {
    // A wrapper per subscription, so the same function subscribed twice is told twice and removed once.
    const entry = (notice: AppendNotice): void => listener(notice);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Tells every listener; a listener that throws does not stop the others. */
  notify(notice: AppendNotice): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(notice);
      } catch {
        // The contract says listeners must not throw; the log's state is committed either way.
      }
    }
  }

  /** How many listeners are subscribed now (a listener added twice counts twice). */
  get size(): number {
    return this.#listeners.size;
  }

  /** Removes every listener, so none is told again; a log calls it when it closes. */
  clear(): void {
    this.#listeners.clear();
  }
}
