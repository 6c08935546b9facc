/** Tells whether the device is online, and when that changes. */
export interface Connectivity {
  /** Whether the device is online now. */
  isOnline(): boolean;
  /** Calls `listener` on every change; returns the function that stops it. */
  subscribe(listener: (online: boolean) => void): () => void;
}

/** A connectivity that is always online: for Node, where there is no `navigator.onLine`. */
export const alwaysOnline: Connectivity = {
  isOnline: () => true,
  subscribe: () => () => {},
};

interface BrowserLike {
  readonly navigator?: { readonly onLine?: boolean };
  addEventListener?(type: string, listener: () => void): void;
  removeEventListener?(type: string, listener: () => void): void;
}

/**
 * The browser's connectivity: `navigator.onLine` and the `online` / `offline` events of the global
 * scope (windows and workers). Falls back to {@link alwaysOnline} where they do not exist.
 */
export function defaultConnectivity(scope: unknown = globalThis): Connectivity {
  const global = scope as BrowserLike;
  if (typeof global.navigator?.onLine !== 'boolean' || typeof global.addEventListener !== 'function') {
    return alwaysOnline;
  }
  return {
    isOnline: () => global.navigator?.onLine !== false,
    subscribe(listener) {
      const online = (): void => listener(true);
      const offline = (): void => listener(false);
      global.addEventListener?.('online', online);
      global.addEventListener?.('offline', offline);
      return () => {
        global.removeEventListener?.('online', online);
        global.removeEventListener?.('offline', offline);
      };
    },
  };
}

/**
 * A connectivity the application sets by hand (or a test): `set(false)` goes offline.
 *
 * @example
 * ```ts
 * const network = manualConnectivity(true);
 * const manager = new SyncManager({ ..., connectivity: network });
 * network.set(false); // auto sync pauses
 * ```
 */
export function manualConnectivity(initial = true): Connectivity & {
  /** Goes online (`true`) or offline (`false`), telling the listeners when that is a change. */
  set(online: boolean): void;
} {
  let online = initial;
  const listeners = new Set<(online: boolean) => void>();
  return {
    isOnline: () => online,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    set(next) {
      if (next === online) return;
      online = next;
      for (const listener of [...listeners]) listener(online);
    },
  };
}
