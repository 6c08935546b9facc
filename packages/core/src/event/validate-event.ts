import { SyncError } from '../errors/sync-error.js';
import { describeValue } from '../internal/describe.js';
import { HlcTimestamp, isHlcTimestampString } from '../version/hlc-timestamp.js';
import type { Event } from './event.js';

/** Bounds on the shape of an event. */
export interface EventLimits {
  /**
   * The most bytes an event may take as UTF-8 JSON, everything included.
   *
   * @defaultValue 65536 (64 KiB)
   */
  readonly maxEventBytes?: number;
  /**
   * The longest `type`, in characters.
   *
   * @defaultValue 256
   */
  readonly maxTypeLength?: number;
  /**
   * The longest `aggregateId`, in characters.
   *
   * @defaultValue 256
   */
  readonly maxAggregateIdLength?: number;
  /**
   * The deepest nesting of arrays and objects in `data` and `metadata`.
   *
   * @defaultValue 32
   */
  readonly maxDepth?: number;
}

/** The defaults of {@link EventLimits}. */
export const DEFAULT_EVENT_LIMITS: Required<EventLimits> = {
  maxEventBytes: 64 * 1024,
  maxTypeLength: 256,
  maxAggregateIdLength: 256,
  maxDepth: 32,
};

/** The form of event ids: a ULID in Crockford base32, upper case. */
export const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
const CURSOR = /^(0|[1-9][0-9]*)$/;
const EVENT_FIELDS: ReadonlySet<string> = new Set(['id', 'type', 'aggregateId', 'data', 'metadata']);
const CLIENT_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * Checks that `value` is a well-formed event: a ULID `id`, a non-empty `type` and `aggregateId`, JSON
 * `data` and `metadata`, an HLC `metadata.timestamp`, a `metadata.clientId`, well-formed optional
 * metadata, and a JSON size within `maxEventBytes`.
 *
 * @throws SyncError `invalid_input` naming the offending field, or `limit_exceeded` naming the limit.
 *
 * @example
 * ```ts
 * validateEvent(JSON.parse(body)); // throws a SyncError that says what is wrong
 * ```
 */
export function validateEvent(value: unknown, limits: EventLimits = {}): asserts value is Event {
  // Without a size bound (a client reading what its server checked), the JSON is never needed.
  if (limits.maxEventBytes === Number.POSITIVE_INFINITY) checkEventShape(value, limits);
  else checkedEventJson(value, limits);
}

/**
 * Validates an event like {@link validateEvent} and returns its JSON (the string the size check
 * measured), so a store that keeps events as JSON does not serialise them twice.
 *
 * @throws SyncError as {@link validateEvent} does.
 */
export function checkedEventJson(value: unknown, limits: EventLimits = {}): string {
  const id = checkEventShape(value, limits);
  const maxEventBytes = limits.maxEventBytes ?? DEFAULT_EVENT_LIMITS.maxEventBytes;
  const json = JSON.stringify(value);
  // A string's UTF-8 length is at least its length and at most three times it: count only when it matters.
  const bytes = json.length * 3 <= maxEventBytes ? json.length : utf8Length(json);
  if (bytes > maxEventBytes) {
    throw new SyncError(
      'limit_exceeded',
      `Event ${id} takes ${bytes} bytes as JSON, more than maxEventBytes (${maxEventBytes})`,
      {
        details: { limit: 'maxEventBytes', max: maxEventBytes, actual: bytes, eventId: id },
      },
    );
  }
  return json;
}

/** Every check of {@link validateEvent} but the JSON size; returns the event's id. */
function checkEventShape(value: unknown, limits: EventLimits): string {
  const maxTypeLength = limits.maxTypeLength ?? DEFAULT_EVENT_LIMITS.maxTypeLength;
  const maxAggregateIdLength = limits.maxAggregateIdLength ?? DEFAULT_EVENT_LIMITS.maxAggregateIdLength;
  const maxDepth = limits.maxDepth ?? DEFAULT_EVENT_LIMITS.maxDepth;
  if (!isPlainObject(value)) throw invalid('event', `an event must be an object, got ${describeValue(value)}`);
  const { id, type, aggregateId, data, metadata } = value;
  for (const key of Object.keys(value)) {
    if (!EVENT_FIELDS.has(key)) throw invalid(key, `unknown field ${JSON.stringify(key)}`);
  }
  if (typeof id !== 'string' || !ULID_PATTERN.test(id)) {
    throw invalid('id', `id must be a ULID (26 upper-case Crockford base32 characters), got ${describeValue(id)}`);
  }
  checkName('type', type, maxTypeLength);
  checkName('aggregateId', aggregateId, maxAggregateIdLength);
  if (!isJsonTree(data, maxDepth)) checkJson(data, 'data', maxDepth);
  if (!isPlainObject(metadata))
    throw invalid('metadata', `metadata must be an object, got ${describeValue(metadata)}`, id);
  if (!isJsonTree(metadata, maxDepth)) checkJson(metadata, 'metadata', maxDepth);
  const { timestamp, clientId, baseVersion, schemaVersion, tenant } = metadata;
  if (typeof timestamp !== 'string')
    throw invalid('metadata.timestamp', 'metadata.timestamp must be an HLC timestamp string', id);
  if (!isHlcTimestampString(timestamp)) {
    try {
      HlcTimestamp.parse(timestamp); // for its words on what is wrong
    } catch (error) {
      throw invalid('metadata.timestamp', (error as Error).message, id);
    }
  }
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) {
    throw invalid(
      'metadata.clientId',
      `metadata.clientId must be 1 to 128 characters of A-Z a-z 0-9 _ . : -, got ${describeValue(clientId)}`,
      id,
    );
  }
  if (baseVersion !== undefined && (typeof baseVersion !== 'string' || !CURSOR.test(baseVersion))) {
    throw invalid(
      'metadata.baseVersion',
      `metadata.baseVersion must be a cursor string like "42", got ${describeValue(baseVersion)}`,
      id,
    );
  }
  if (schemaVersion !== undefined && !(Number.isSafeInteger(schemaVersion) && (schemaVersion as number) >= 1)) {
    throw invalid(
      'metadata.schemaVersion',
      `metadata.schemaVersion must be a positive integer, got ${describeValue(schemaVersion)}`,
      id,
    );
  }
  if (tenant !== undefined && (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > 256)) {
    throw invalid('metadata.tenant', `metadata.tenant must be a non-empty string of at most 256 characters`, id);
  }
  return id;
}

/** The number of bytes `text` takes in UTF-8, without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Whether `value` is an object made by `{}`, `Object.create(null)` or `JSON.parse`. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function checkName(field: 'type' | 'aggregateId', value: unknown, max: number): void {
  if (typeof value !== 'string' || value.length === 0) {
    throw invalid(field, `${field} must be a non-empty string, got ${describeValue(value)}`);
  }
  if (value.length > max) {
    throw new SyncError('limit_exceeded', `${field} is ${value.length} characters long, more than ${max}`, {
      details: { field, limit: field === 'type' ? 'maxTypeLength' : 'maxAggregateIdLength', max, actual: value.length },
    });
  }
}

// The fast path of the JSON check: true when `value` is plain JSON within `maxDepth`, with no path
// strings built. When it says no, `checkJson` walks again to say exactly what and where (a cycle
// always says no here: it runs past the depth cap).
function isJsonTree(value: unknown, maxDepth: number, depth = 0): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      break;
    default:
      return false;
  }
  if (value === null) return true;
  // Past 256 levels (a cycle, or an unbounded maxDepth), the careful walk decides.
  if (depth >= maxDepth || depth >= 256) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value) || !isJsonTree(value[i], maxDepth, depth + 1)) return false;
    }
    return true;
  }
  if (!isPlainObject(value)) return false;
  for (const key in value) {
    if (Object.hasOwn(value, key) && !isJsonTree(value[key], maxDepth, depth + 1)) return false;
  }
  return true;
}

// Only values that survive a JSON round trip unchanged: no undefined, functions, symbols, bigints,
// non-finite numbers, class instances (Date, Map), sparse arrays or cycles.
function checkJson(value: unknown, path: string, maxDepth: number, depth = 0, ancestors = new Set<object>()): void {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw invalid(path, `${path} is ${String(value)}, which JSON cannot carry`);
      return;
    case 'object':
      break;
    default:
      throw invalid(path, `${path} is ${describeValue(value)}, which JSON cannot carry`);
  }
  if (value === null) return;
  if (ancestors.has(value)) throw invalid(path, `${path} contains itself (a cycle), which JSON cannot carry`);
  if (depth >= maxDepth) {
    throw new SyncError('limit_exceeded', `${path} nests deeper than ${maxDepth} levels`, {
      details: { field: path, limit: 'maxDepth', max: maxDepth },
    });
  }
  ancestors.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) throw invalid(`${path}[${i}]`, `${path} is a sparse array`);
      checkJson(value[i], `${path}[${i}]`, maxDepth, depth + 1, ancestors);
    }
  } else {
    if (!isPlainObject(value)) throw invalid(path, `${path} is ${describeValue(value)}, not a plain object`);
    for (const key of Object.keys(value)) {
      checkJson(value[key], `${path}.${key}`, maxDepth, depth + 1, ancestors);
    }
  }
  // Only the current path counts: the same object twice side by side is a tree for JSON, not a cycle.
  ancestors.delete(value);
}

function invalid(field: string, message: string, eventId?: unknown): SyncError {
  const details = typeof eventId === 'string' ? { field, eventId } : { field };
  return new SyncError('invalid_input', `Invalid event: ${message}`, { details });
}
