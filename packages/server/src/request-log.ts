/** One structured line per request, written when its response starts. */
export interface RequestLogEntry {
  /** When the request arrived, ISO 8601. */
  readonly time: string;
  /** The HTTP method, as the request gave it (`GET`, `POST`, `OPTIONS`…). */
  readonly method: string;
  /** The path, without the query string (it may carry cursors, never secrets, but stays short). */
  readonly path: string;
  /** The HTTP status of the response. */
  readonly status: number;
  /** Milliseconds from the request to its response's head (for a stream: until it opened). */
  readonly ms: number;
  /** The authenticated tenant, when there was one. */
  readonly tenant?: string;
  /** The problem's `code` of an error response. */
  readonly code?: string;
  /** For a `500`: the error's message, so the log says what broke (the response never does). */
  readonly error?: string;
}

/** Where request logs go: a function given each entry (send it to pino, a file, a test array…). */
export type RequestLogger = (entry: RequestLogEntry) => void;

/** A {@link RequestLogger} that prints each entry as one JSON line on standard output. */
export const consoleRequestLogger: RequestLogger = (entry) => {
  console.log(JSON.stringify(entry));
};
