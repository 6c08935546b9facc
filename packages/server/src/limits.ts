import { SyncError } from '@eventsync/core';

/** The bounds a sync handler puts on requests; each one passed is answered with the limit named. */
export interface SyncLimits {
  /**
   * The most bytes of a request body, both as sent and after gzip decompression. Past it: `413
   * limit_exceeded` naming `maxBodyBytes`, checked before the body is read in full.
   *
   * @defaultValue 4194304 (4 MiB)
   */
  readonly maxBodyBytes?: number;
  /**
   * The most events one push may hold. Past it: `413 limit_exceeded` naming `maxEventsPerPush`.
   *
   * @defaultValue 1000
   */
  readonly maxEventsPerPush?: number;
  /**
   * The most bytes one event may take as UTF-8 JSON. An event past it refuses the whole push: `413
   * limit_exceeded` naming `maxEventBytes`.
   *
   * @defaultValue 65536 (64 KiB)
   */
  readonly maxEventBytes?: number;
  /**
   * The largest `limit` a pull may ask for. Past it: `400 limit_exceeded` naming `maxPullLimit`.
   *
   * @defaultValue 1000
   */
  readonly maxPullLimit?: number;
  /**
   * The page size of a pull that gives no `limit`; at most `maxPullLimit`.
   *
   * @defaultValue 1000
   */
  readonly defaultPullLimit?: number;
  /**
   * How long a push of a push chain waits for the chain's previous push to be decided, in
   * milliseconds. Past it: `409 chain_unknown` (the previous push never reached this server node, or
   * is still running), and the client pushes those events again without a chain.
   *
   * @defaultValue 10000 (10 s)
   */
  readonly pushChainWaitMs?: number;
  /**
   * The most push chains a handler remembers at once (each one an id, its next `seq` and the
   * aggregates that met a conflict in it, for 60 s after its last push). Past it the chain idle the
   * longest is forgotten, and its next push is answered `409 chain_unknown`.
   *
   * @defaultValue 10000
   */
  readonly maxPushChains?: number;
  /**
   * The most push chains of one tenant a handler remembers at once; past it that tenant's chain idle
   * the longest is forgotten, so one tenant cannot push the other tenants' chains out.
   *
   * @defaultValue 1000
   */
  readonly maxPushChainsPerTenant?: number;
}

/** The defaults of {@link SyncLimits}. */
export const DEFAULT_LIMITS: Required<SyncLimits> = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxEventsPerPush: 1000,
  maxEventBytes: 64 * 1024,
  maxPullLimit: 1000,
  defaultPullLimit: 1000,
  pushChainWaitMs: 10_000,
  maxPushChains: 10_000,
  maxPushChainsPerTenant: 1000,
};

/**
 * Merges `limits` over the defaults and checks them.
 *
 * @throws SyncError `invalid_input` for a limit that is not a positive integer, or a
 *   `defaultPullLimit` above `maxPullLimit`.
 */
export function resolveLimits(limits: SyncLimits = {}): Required<SyncLimits> {
  const resolved = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof SyncLimits)[]) {
    const value = limits[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new SyncError('invalid_input', `limits.${key} must be a positive integer, got ${String(value)}`, {
        details: { field: `limits.${key}` },
      });
    }
    resolved[key] = value;
  }
  if (limits.defaultPullLimit === undefined) {
    resolved.defaultPullLimit = Math.min(resolved.defaultPullLimit, resolved.maxPullLimit);
  } else if (resolved.defaultPullLimit > resolved.maxPullLimit) {
    throw new SyncError(
      'invalid_input',
      `limits.defaultPullLimit (${resolved.defaultPullLimit}) is more than limits.maxPullLimit (${resolved.maxPullLimit})`,
      { details: { field: 'limits.defaultPullLimit' } },
    );
  }
  return resolved;
}
