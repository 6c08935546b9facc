/** A lone UTF-16 surrogate: JavaScript strings may hold one, PostgreSQL's UTF-8 text cannot. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NEEDS_ESCAPE = /[\\\0]/;
const ESCAPES = /[\\\0]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A string as it is kept in a text column and compared there (tenants, aggregate ids, types, client
 * ids). PostgreSQL's text holds neither NUL nor a lone surrogate, which an event's `type` or
 * `aggregateId` may contain; so `\`, NUL and lone surrogates are escaped (`\\`, `\0`, `\udxxx`).
 * Every other string is kept as it is, and two different strings never map to the same text.
 * The event itself is kept as JSON, whose own escapes already carry such characters.
 */
export function columnText(value: string): string {
  if (!NEEDS_ESCAPE.test(value) && !LONE_SURROGATE.test(value)) return value;
  return value.replace(ESCAPES, (match) =>
    match === '\\' ? '\\\\' : match === '\0' ? '\\0' : `\\u${match.charCodeAt(0).toString(16)}`,
  );
}
