import { STREAM_EVENT_NAME, type StreamBatch } from './wire.js';

/** The comment a server sends on a quiet stream, every 15 s by default. */
export const STREAM_HEARTBEAT = ': heartbeat\n\n';

/**
 * One `events` message of `/v1/stream` (server side): `id` is the batch's cursor. The JSON is written
 * on one `data:` line (JSON.stringify escapes every line break).
 *
 * @example
 * ```ts
 * controller.enqueue(encoder.encode(formatStreamMessage(encodeStreamBatch({ events }))));
 * ```
 */
export function formatStreamMessage(batch: StreamBatch): string {
  return `id: ${batch.cursor}\nevent: ${STREAM_EVENT_NAME}\ndata: ${JSON.stringify(batch)}\n\n`;
}

/**
 * The first message of `/v1/stream` (server side): `retry:` and a batch with no events whose `id` and
 * `cursor` say where the stream starts, so that a client that loses the connection before the first
 * batch resumes from there (an `EventSource` remembers the id too).
 */
export function formatStreamOpening(cursor: { toString(): string }, retryMs: number): string {
  return `retry: ${Math.max(0, Math.floor(retryMs))}\n${formatStreamMessage({ events: [], cursor: cursor.toString() })}`;
}
