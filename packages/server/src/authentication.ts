import { checkTenant, isSyncError, SyncError, type Event } from '@eventsync/core';

/**
 * Who is calling: what `authenticate` found in the request. Every read and write of the request is
 * scoped to `tenant`, whatever the request or its events say.
 *
 * @typeParam P - your principal: a user id, a session, claims of a token…
 */
export interface Identity<P = unknown> {
  /** Who made the request; handed to `authorize`. */
  readonly principal: P;
  /** The log the request reads and writes: a non-empty string of at most 256 characters. */
  readonly tenant: string;
}

/**
 * Finds who made a request. Answer `null` (or `undefined`) when the credentials are missing or
 * invalid: the request is refused with `401 unauthorized`. Throw `SyncError('forbidden')` for `403`,
 * `SyncError('unavailable')` for `503` (an identity provider that is down).
 */
export type Authenticate<P = unknown> = (
  request: Request,
) => Identity<P> | null | undefined | Promise<Identity<P> | null | undefined>;

/**
 * Decides whether an authenticated caller may append one event (already checked well-formed). `true`
 * lets it through; `false` or a reason refuses it: its result is `rejected` with code `forbidden` and
 * that reason, and the rest of the batch is still answered.
 */
export type Authorize<P = unknown> = (
  event: Event,
  identity: Identity<P>,
) => boolean | string | Promise<boolean | string>;

/**
 * An {@link Authenticate} that accepts `Authorization: Bearer <token>` for a fixed set of tokens, each
 * naming its principal and tenant. Tokens are compared by their SHA-256 digests, so the time a lookup
 * takes says nothing about how much of a token matched.
 *
 * @throws SyncError `invalid_input` for an empty token or an identity without a valid tenant.
 *
 * @example
 * ```ts
 * createSyncHandler({ store, authenticate: bearerTokens({ 's3cret': { principal: 'alice', tenant: 'acme' } }) });
 * ```
 */
export function bearerTokens<P = string>(
  tokens: Readonly<Record<string, Identity<P>>> | ReadonlyMap<string, Identity<P>>,
): Authenticate<P> {
  const entries: [string, Identity<P>][] =
    tokens instanceof Map
      ? [...(tokens as ReadonlyMap<string, Identity<P>>).entries()]
      : Object.entries(tokens as Readonly<Record<string, Identity<P>>>);
  for (const [token, identity] of entries) {
    if (typeof token !== 'string' || !TOKEN.test(token)) {
      throw new SyncError(
        'invalid_input',
        'A bearer token is 1 or more characters of A-Z a-z 0-9 - . _ ~ + / followed by optional =',
        { details: { field: 'tokens' } },
      );
    }
    try {
      checkTenant((identity as Identity<P> | undefined)?.tenant);
    } catch (error) {
      throw new SyncError('invalid_input', 'Every token needs { principal, tenant } with a valid tenant', {
        cause: error,
        details: { field: 'tokens' },
      });
    }
  }
  // Digests are computed once, on the first request (crypto.subtle is asynchronous).
  let byDigest: Promise<Map<string, Identity<P>>> | undefined;
  const digests = async (): Promise<Map<string, Identity<P>>> => {
    const map = new Map<string, Identity<P>>();
    for (const [token, identity] of entries) {
      map.set(await sha256(token), { principal: identity.principal, tenant: identity.tenant });
    }
    return map;
  };
  return async (request) => {
    const token = bearerToken(request);
    if (token === undefined) return null;
    byDigest ??= digests();
    return (await byDigest).get(await sha256(token)) ?? null;
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750), or `undefined` when the header
 * is missing or has another form.
 */
export function bearerToken(request: Request): string | undefined {
  const match = BEARER.exec(request.headers.get('Authorization') ?? '');
  return match?.[1];
}

/** Whether the request carries credentials of some form (an `Authorization` header). */
export function hasCredentials(request: Request): boolean {
  return request.headers.has('Authorization');
}

/**
 * Asks `authenticate` who sent a request and checks its answer: what the sync handler does first on
 * every request, for servers of other transports (a WebSocket upgrade, a queue consumer) that take the
 * same `authenticate` or `tokens`.
 *
 * @param authenticate - the same function given to `createSyncHandler` (e.g. {@link bearerTokens}).
 * @param request - the request to identify; other transports build one carrying the credentials.
 * @returns the identity with a valid tenant, or `null` when `authenticate` refused the request.
 * @throws SyncError `internal` when `authenticate` answered a tenant that is not valid (empty, too long
 * or not a string): a bug of the server's configuration, not of the client.
 *
 * @example
 * ```ts
 * const authenticate = bearerTokens({ 'tok-a': { principal: 'phone', tenant: 'acme' } });
 * const request = new Request('http://127.0.0.1/ws', { headers: { Authorization: `Bearer ${token}` } });
 * const identity = await identify(authenticate, request);
 * if (identity === null) socket.close(4401, 'unauthorized');
 * ```
 */
export async function identify<P>(authenticate: Authenticate<P>, request: Request): Promise<Identity<P> | null> {
  const identity = await authenticate(request);
  if (identity === null || identity === undefined) return null;
  try {
    checkTenant(identity.tenant);
  } catch (error) {
    if (!isSyncError(error)) throw error;
    throw new SyncError('internal', `authenticate answered an invalid tenant: ${error.message}`, { cause: error });
  }
  return identity;
}

/**
 * Whether a request carries `Authorization: Bearer <token>` for this one token, compared by SHA-256
 * digests like {@link bearerTokens}.
 *
 * @throws SyncError `invalid_input` naming `field` for a token that is not a bearer token.
 */
export function bearerTokenMatcher(token: string, field: string): (request: Request) => Promise<boolean> {
  if (typeof token !== 'string' || !TOKEN.test(token)) {
    throw new SyncError(
      'invalid_input',
      `${field} must be 1 or more characters of A-Z a-z 0-9 - . _ ~ + / followed by optional =`,
      { details: { field } },
    );
  }
  let expected: Promise<string> | undefined;
  return async (request) => {
    const sent = bearerToken(request);
    if (sent === undefined) return false;
    expected ??= sha256(token);
    return (await expected) === (await sha256(sent));
  };
}

const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}
