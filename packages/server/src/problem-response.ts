import { isSyncError } from '@eventsync/core';
import { MEDIA_TYPES, problem, problemFromError, type ProblemDocument } from '@eventsync/http';

/** A problem document as a response (`application/problem+json`), with extra headers. */
export function problemResponse(document: ProblemDocument, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(document), {
    status: document.status,
    headers: { 'Content-Type': MEDIA_TYPES.problem, ...headers },
  });
}

/**
 * The problem document for an error thrown while handling a request. Storage failures are `503
 * unavailable` without their message (it may name files or hosts); anything that is not a
 * `SyncError` is a `500 internal` that gives nothing away.
 */
export function problemForError(error: unknown): ProblemDocument {
  if (isSyncError(error, 'storage', 'quota', 'timeout', 'network')) {
    return problem('unavailable', 503, 'The event log cannot serve the request now; try again later');
  }
  if (isSyncError(error, 'closed')) return problem('unavailable', 503, 'The server is shutting down');
  return problemFromError(error);
}
