import { SyncError } from '@eventsync/core';
import type { Identity } from '@eventsync/server';
import { randomBytes } from 'node:crypto';

/** A tenant of this server and the environment variable that holds its bearer token. */
export interface TenantSpec {
  readonly tenant: string;
  readonly variable: string;
}

/** The two tenants of the example, each with its token in its own environment variable. */
export const TENANTS: readonly TenantSpec[] = [
  { tenant: 'acme', variable: 'ACME_TOKEN' },
  { tenant: 'globex', variable: 'GLOBEX_TOKEN' },
];

/** A tenant's bearer token, and whether it was made up because its variable was empty. */
export interface TenantToken extends TenantSpec {
  readonly token: string;
  readonly generated: boolean;
}

const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Reads each tenant's token from its environment variable, generating a random one (24 bytes,
 * base64url) for a variable that is unset or empty.
 *
 * @throws SyncError `invalid_input` naming the variable for a token that is not a bearer token
 *   (`A-Z a-z 0-9 - . _ ~ + /`, then optional `=`), or when two tenants are given the same token.
 */
export function readTenantTokens(
  env: Readonly<Record<string, string | undefined>>,
  tenants: readonly TenantSpec[] = TENANTS,
): TenantToken[] {
  const tokens: TenantToken[] = [];
  for (const spec of tenants) {
    const given = env[spec.variable]?.trim();
    if (given === undefined || given === '') {
      tokens.push({ ...spec, token: randomBytes(24).toString('base64url'), generated: true });
      continue;
    }
    if (!TOKEN.test(given)) {
      throw new SyncError(
        'invalid_input',
        `${spec.variable} must be a bearer token: A-Z a-z 0-9 - . _ ~ + / and optional = at the end`,
        { details: { field: spec.variable } },
      );
    }
    const twin = tokens.find((other) => other.token === given);
    if (twin) {
      throw new SyncError(
        'invalid_input',
        `${spec.variable} and ${twin.variable} hold the same token; each tenant needs its own`,
        { details: { field: spec.variable } },
      );
    }
    tokens.push({ ...spec, token: given, generated: false });
  }
  return tokens;
}

/**
 * The identities the sync handler's `tokens` option takes: each token names its tenant, and its
 * principal is the variable it came from (what a request log or `authorize` would show).
 */
export function tokenIdentities(tokens: readonly TenantToken[]): Map<string, Identity<string>> {
  return new Map(tokens.map(({ token, tenant, variable }) => [token, { principal: variable, tenant }]));
}
