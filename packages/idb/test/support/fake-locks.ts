/**
 * The Web Locks API in memory, for the Node tests of `TabLeader` (Node 20 has no `navigator.locks`):
 * exclusive locks by name, granted in request order, a request called off by its signal. The real API
 * is proven in Chromium.
 */
export class FakeLockManager {
  readonly #held = new Set<string>();
  readonly #queues = new Map<string, (() => void)[]>();

  request(
    name: string,
    options: { signal?: AbortSignal },
    callback: (lock: { name: string; mode: 'exclusive' }) => unknown,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) {
        reject(new DOMException('aborted', 'AbortError'));
        return;
      }
      const grant = (): void => {
        signal?.removeEventListener('abort', onAbort);
        this.#held.add(name);
        Promise.resolve()
          .then(() => callback({ name, mode: 'exclusive' }))
          .then(resolve, reject)
          .finally(() => {
            this.#held.delete(name);
            this.#queues.get(name)?.shift()?.();
          });
      };
      const onAbort = (): void => {
        const queue = this.#queues.get(name) ?? [];
        const index = queue.indexOf(grant);
        if (index >= 0) queue.splice(index, 1);
        reject(new DOMException('aborted', 'AbortError'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (!this.#held.has(name)) grant();
      else this.#queues.set(name, [...(this.#queues.get(name) ?? []), grant]);
    });
  }

  query(): Promise<LockManagerSnapshot> {
    return Promise.resolve({ held: [], pending: [] });
  }

  /** Stands in for `navigator.locks`. */
  asLockManager(): LockManager {
    return this as unknown as LockManager;
  }
}
