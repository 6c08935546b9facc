import { SyncError, type AppendResult } from '@eventsync/core';
import type { PushChain } from '@eventsync/http';

/** Ids that need no escaping in JSON: what validation lets through as an event id (a ULID). */
const PLAIN_ID = /^[0-9A-Z]{1,64}$/;

/**
 * The body `JSON.stringify(encodePushResponse(results, chain))` makes, written straight from the results:
 * no result objects built only to be serialised. Ids are quoted as they are when they are plain
 * (every id of a valid event), and by `JSON.stringify` otherwise; reasons and codes always are.
 *
 * @throws SyncError `internal` for a result that is not an `AppendResult` (an unknown status, an id,
 *   code or reason that is not a string), as a third-party `ServerEventLog` may answer: the handler
 *   answers it with a `500` problem rather than a `200` whose body is not the protocol's, or not JSON.
 */
export function pushResponseJson(results: readonly AppendResult[], chain?: PushChain): string {
  let body = '{"results":[';
  for (let i = 0; i < results.length; i++) {
    const result = results[i] as AppendResult;
    const id =
      typeof result.id === 'string' && PLAIN_ID.test(result.id) ? `"${result.id}"` : quoted(result.id, 'id', i);
    body += i === 0 ? '{"id":' : ',{"id":';
    switch (result.status) {
      case 'accepted':
      case 'duplicate':
        body += `${id},"status":"${result.status}","version":"${result.version.toString()}"}`;
        break;
      case 'conflict':
        body += `${id},"status":"conflict","latest":"${result.latest.toString()}","reason":${quoted(result.reason, 'reason', i)}}`;
        break;
      case 'rejected':
        body += `${id},"status":"rejected","code":${quoted(result.code, 'code', i)},"reason":${quoted(result.reason, 'reason', i)}}`;
        break;
      default:
        throw new SyncError(
          'internal',
          `The event log answered result ${i} with an unknown status: ${String((result as { status: unknown }).status)}`,
        );
    }
  }
  if (chain === undefined) return `${body}]}`;
  return `${body}],"chain":{"id":${JSON.stringify(chain.id)},"seq":${chain.seq}}}`;
}

/** `value` as a JSON string, or `SyncError('internal')` when it is not a string (`JSON.stringify` would write a number, or nothing). */
function quoted(value: unknown, field: string, index: number): string {
  if (typeof value !== 'string') {
    throw new SyncError('internal', `The event log answered result ${index} with a ${field} that is not a string`);
  }
  return JSON.stringify(value);
}
