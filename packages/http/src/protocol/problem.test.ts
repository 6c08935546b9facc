import { SyncError } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { problem, problemFromError } from './problem.js';
import { formatStreamMessage, formatStreamOpening } from './sse.js';

describe('problem', () => {
  it('makes the document of docs/protocol.md', () => {
    expect(
      problem('limit_exceeded', 413, 'The push holds 1500 events, more than maxEventsPerPush (1000)', {
        limit: 'maxEventsPerPush',
        max: 1000,
        actual: 1500,
      }),
    ).toEqual({
      type: 'urn:eventsync:problem:limit_exceeded',
      title: 'Limit exceeded',
      status: 413,
      detail: 'The push holds 1500 events, more than maxEventsPerPush (1000)',
      code: 'limit_exceeded',
      limit: 'maxEventsPerPush',
      max: 1000,
      actual: 1500,
    });
  });

  it('takes the status from the code, and keeps extras from touching a prototype or the core members', () => {
    const extra = JSON.parse('{"__proto__":{"polluted":true},"code":"other","eventId":"e"}') as Record<string, unknown>;
    const document = problem('too_many_requests', undefined, undefined, extra);
    expect(document.status).toBe(429);
    expect(document.code).toBe('too_many_requests');
    expect(document.eventId).toBe('e');
    expect(Object.getPrototypeOf(document)).toBe(Object.prototype);
    expect((document as Record<string, unknown>).polluted).toBeUndefined();
    expect('detail' in document).toBe(false);
  });

  it('maps errors to problems, giving nothing away for unknown ones', () => {
    expect(problemFromError(new SyncError('forbidden', 'no'))).toMatchObject({ status: 403, code: 'forbidden' });
    expect(problemFromError(new SyncError('closed', 'bye'))).toMatchObject({ status: 503, code: 'unavailable' });
    const limit = new SyncError('limit_exceeded', 'big', { details: { limit: 'maxEventBytes', max: 1, actual: 2 } });
    expect(problemFromError(limit)).toMatchObject({ status: 413, limit: 'maxEventBytes', max: 1, actual: 2 });
    const bad = new SyncError('invalid_input', 'no chains', {
      details: { field: 'chain', problem: 'invalid_request' },
    });
    expect(problemFromError(bad)).toMatchObject({ status: 400, code: 'invalid_request', field: 'chain' });
    expect(
      'field' in problemFromError(new SyncError('invalid_input', 'x', { details: { field: 3 as unknown as string } })),
    ).toBe(false);
    expect(problemFromError(new Error('secret path /etc'))).toEqual(
      problem('internal', 500, 'The server failed to handle the request'),
    );
  });
});

describe('stream messages', () => {
  it('writes a batch as one SSE message with the cursor as id', () => {
    expect(formatStreamMessage({ events: [], cursor: '46' })).toBe(
      'id: 46\nevent: events\ndata: {"events":[],"cursor":"46"}\n\n',
    );
  });

  it('opens a stream with retry and the starting cursor', () => {
    expect(formatStreamOpening({ toString: () => '44' }, 3000)).toBe(
      'retry: 3000\nid: 44\nevent: events\ndata: {"events":[],"cursor":"44"}\n\n',
    );
  });
});
