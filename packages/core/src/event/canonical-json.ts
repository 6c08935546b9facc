import type { Event } from './event.js';

/**
 * JSON with object keys sorted at every depth, so equal values have equal strings whatever order
 * their keys were written in.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value).sort()) {
    sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  }
  return sorted;
}

/**
 * Whether two events with the same id carry the same content, so a second push of it is a duplicate
 * rather than a different event reusing the id. `metadata.baseVersion` (which a rebase moves) and
 * `metadata.tenant` (which the server assigns) are left out of the comparison.
 */
export function sameEventContent(a: Event, b: Event): boolean {
  return a.id === b.id && contentKey(a) === contentKey(b);
}

function contentKey(event: Event): string {
  const { baseVersion: _baseVersion, tenant: _tenant, ...metadata } = event.metadata;
  return canonicalJson([event.type, event.aggregateId, event.data, metadata]);
}
