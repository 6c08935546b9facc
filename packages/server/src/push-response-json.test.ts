import { CursorVersion, MemoryServerEventLog, SyncError, type AppendResult } from '@eventsync/core';
import { encodePushResponse } from '@eventsync/http';
import { describe, expect, it } from 'vitest';
import { events, testServer } from '../test/support.js';
import type { RequestLogEntry } from './index.js';
import { pushResponseJson } from './push-response-json.js';

const VERSION = CursorVersion.of(1);

/** Results a third-party event log may answer that are no `AppendResult`. */
const broken: [string, unknown][] = [
  ['an unknown status', { id: '01JD0000000000000000000001', status: 'stored', version: VERSION }],
  ['no status', { id: '01JD0000000000000000000001', version: VERSION }],
  ['a number id', { id: 12345, status: 'accepted', version: VERSION }],
  ['no id', { status: 'duplicate', version: VERSION }],
  ['a null id', { id: null, status: 'conflict', latest: VERSION, reason: 'later' }],
  ['no reason', { id: '01JD0000000000000000000001', status: 'conflict', latest: VERSION }],
  ['a number code', { id: '01JD0000000000000000000001', status: 'rejected', code: 403, reason: 'no' }],
];

describe('pushResponseJson', () => {
  it('writes every kind of result byte for byte as JSON.stringify(encodePushResponse(results))', () => {
    const results: AppendResult[] = [
      { id: '01JD0000000000000000000001', status: 'accepted', version: CursorVersion.of(41) },
      { id: '01JD0000000000000000000002', status: 'duplicate', version: CursorVersion.of(7) },
      {
        id: '01JD0000000000000000000003',
        status: 'conflict',
        latest: CursorVersion.of(40),
        reason: 'landed "after" 12',
      },
      { id: '01JD0000000000000000000004', status: 'rejected', code: 'forbidden', reason: 'read-only \u2028 list é' },
      { id: '', status: 'rejected', code: 'invalid_event', reason: 'Invalid event: id must be a ULID' },
      { id: 'x"\\\n</script>', status: 'rejected', code: 'invalid_event', reason: '' },
      { id: 'lower-case', status: 'rejected', code: 'c"o\\de', reason: '\u0000\ud800' },
    ];
    expect(pushResponseJson(results)).toBe(JSON.stringify(encodePushResponse(results)));
    const chain = { id: 'k3J9x0Qm2-Ab7LzT4wYp_e', seq: 12 };
    expect(pushResponseJson(results, chain)).toBe(JSON.stringify(encodePushResponse(results, chain)));
    expect(pushResponseJson([], chain)).toBe(JSON.stringify(encodePushResponse([], chain)));
    for (let i = 0; i < results.length; i++) {
      expect(pushResponseJson(results.slice(i, i + 1))).toBe(
        JSON.stringify(encodePushResponse(results.slice(i, i + 1))),
      );
    }
  });

  it('writes an empty list of results', () => {
    expect(pushResponseJson([])).toBe(JSON.stringify(encodePushResponse([])));
  });

  it.each(broken)('throws SyncError internal for a result with %s, rather than writing it', (_, result) => {
    const results = [
      { id: '01JD0000000000000000000000', status: 'accepted', version: VERSION },
      result,
    ] as AppendResult[];
    expect(() => pushResponseJson(results)).toThrow(SyncError);
    expect(() => pushResponseJson(results)).toThrow(expect.objectContaining({ code: 'internal' }));
  });

  it.each(broken)('makes the handler answer 500 internal for a store result with %s', async (_, result) => {
    const store = new MemoryServerEventLog();
    store.append = (_tenant, batch) => Promise.resolve(batch.map(() => result as AppendResult));
    const logs: RequestLogEntry[] = [];
    const server = testServer({ store, logger: (entry) => void logs.push(entry) });
    const response = await server.push(events().many(1));
    expect(response.status).toBe(500);
    expect(response.headers.get('Content-Type')).toBe('application/problem+json');
    expect(await response.json()).toMatchObject({ status: 500, code: 'internal' });
    expect(logs).toEqual([expect.objectContaining({ status: 500, code: 'internal' })]);
  });
});
