import type { AppendResult } from '@eventsync/core';

/** Ids that need no escaping in JSON: what validation lets through as an event id (a ULID). */
const PLAIN_ID = /^[0-9A-Z]{1,64}$/;

/**
 * The body `JSON.stringify(encodePushResponse(results))` makes, written straight from the results:
 * no result objects built only to be serialised. Ids are quoted as they are when they are plain
 * (every id of a valid event), and by `JSON.stringify` otherwise; reasons and codes always are.
 */
export function pushResponseJson(results: readonly AppendResult[]): string {
  let body = '{"results":[';
  for (let i = 0; i < results.length; i++) {
    const result = results[i] as AppendResult;
    const id = PLAIN_ID.test(result.id) ? `"${result.id}"` : JSON.stringify(result.id);
    body += i === 0 ? '{"id":' : ',{"id":';
    switch (result.status) {
      case 'accepted':
      case 'duplicate':
        body += `${id},"status":"${result.status}","version":"${result.version.toString()}"}`;
        break;
      case 'conflict':
        body += `${id},"status":"conflict","latest":"${result.latest.toString()}","reason":${JSON.stringify(result.reason)}}`;
        break;
      case 'rejected':
        body += `${id},"status":"rejected","code":${JSON.stringify(result.code)},"reason":${JSON.stringify(result.reason)}}`;
        break;
    }
  }
  return `${body}]}`;
}
