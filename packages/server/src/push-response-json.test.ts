import { CursorVersion, type AppendResult } from '@eventsync/core';
import { encodePushResponse } from '@eventsync/http';
import { describe, expect, it } from 'vitest';
import { pushResponseJson } from './push-response-json.js';

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
    for (let i = 0; i < results.length; i++) {
      expect(pushResponseJson(results.slice(i, i + 1))).toBe(
        JSON.stringify(encodePushResponse(results.slice(i, i + 1))),
      );
    }
  });

  it('writes an empty list of results', () => {
    expect(pushResponseJson([])).toBe(JSON.stringify(encodePushResponse([])));
  });
});
