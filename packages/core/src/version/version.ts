/**
 * A point in a version space: the server's cursor, a vector clock or a hybrid logical clock.
 *
 * Versions of different kinds never compare: `compare` throws a `SyncError` with code `invalid_input`.
 */
export interface Version {
  /** -1 when this version is before `other`, 0 when equal, 1 when after. */
  compare(other: Version): -1 | 0 | 1;
  /** The canonical string form; the kind's `parse` turns it back into an equal version. */
  toString(): string;
  /** Whether this is the initial version, before anything happened. */
  isZero(): boolean;
}

/** How a store turns version strings back into versions of its kind. */
export interface VersionCodec<V extends Version> {
  /** The initial version, before any event. */
  readonly zero: V;
  /** Parses the canonical string form; throws `SyncError('invalid_input')` on a bad string. */
  parse(value: string): V;
}
