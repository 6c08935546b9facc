import { CursorVersion, SyncError } from '@eventsync/core';
import { expectSyncError } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import { problemFromError } from './problem.js';
import { encodeChainedEvents } from './encode.js';
import { decodePullQuery, decodePush, decodePushRequest, encodePullQuery } from './request.js';

describe('pull queries', () => {
  it('round-trips since, limit and repeated filters; tenant is never sent', () => {
    const params = encodePullQuery({
      since: CursorVersion.of(42),
      limit: 500,
      filter: { type: ['todo.added', 'todo.renamed'], aggregateId: 'todo-1', tenant: 'acme' },
    });
    expect(params.toString()).toBe('since=42&limit=500&type=todo.added&type=todo.renamed&aggregateId=todo-1');
    const decoded = decodePullQuery(params);
    expect(decoded.since.value).toBe(42);
    expect(decoded).toMatchObject({
      limit: 500,
      filter: { type: ['todo.added', 'todo.renamed'], aggregateId: ['todo-1'] },
    });
  });

  it('defaults since to zero and leaves limit and filter out', () => {
    expect(decodePullQuery(new URLSearchParams())).toEqual({ since: CursorVersion.ZERO });
  });

  it('refuses a limit that is not a positive integer on the client', async () => {
    await expectSyncError(() => encodePullQuery({ since: CursorVersion.ZERO, limit: 0 }), 'invalid_input');
    await expectSyncError(() => encodePullQuery({ since: CursorVersion.ZERO, limit: 1.5 }), 'invalid_input');
  });

  it.each<[string, string, number, string]>([
    ['a bad since', 'since=01', 400, 'invalid_cursor'],
    ['a negative since', 'since=-1', 400, 'invalid_cursor'],
    ['a bad limit', 'limit=ten', 400, 'invalid_request'],
    ['a zero limit', 'limit=0', 400, 'invalid_request'],
    ['an unknown parameter', 'tenant=other', 400, 'invalid_request'],
    ['a limit above maxPullLimit', 'limit=1001', 400, 'limit_exceeded'],
  ])('refuses %s with the problem the protocol names', (_name, query, status, code) => {
    let caught: unknown;
    try {
      decodePullQuery(new URLSearchParams(query), { maxPullLimit: 1000 });
    } catch (error) {
      caught = error;
    }
    expect(problemFromError(caught)).toMatchObject({ status, code });
  });
});

describe('decodePushRequest', () => {
  it('returns the events unchecked, for the log to answer per event', () => {
    expect(decodePushRequest({ events: [{ id: 'bad' }] })).toEqual([{ id: 'bad' }]);
  });

  it.each<[string, unknown]>([
    ['not an object', []],
    ['no events', {}],
    ['events not an array', { events: 'x' }],
    ['an unknown member', { events: [], tenant: 'other' }],
    ['a __proto__ member', JSON.parse('{"events":[],"__proto__":{"x":1}}')],
  ])('refuses %s as invalid_request', (_name, body) => {
    let caught: unknown;
    try {
      decodePushRequest(body);
    } catch (error) {
      caught = error;
    }
    expect(problemFromError(caught)).toMatchObject({ status: 400, code: 'invalid_request' });
  });

  it('refuses more events than maxEventsPerPush with a 413 naming the limit', () => {
    let caught: unknown;
    try {
      decodePushRequest({ events: [1, 2, 3] }, 2);
    } catch (error) {
      caught = error;
    }
    expect(problemFromError(caught)).toMatchObject({
      status: 413,
      code: 'limit_exceeded',
      limit: 'maxEventsPerPush',
      max: 2,
      actual: 3,
    });
  });
});

describe('decodePush', () => {
  it('returns the events and the chain a client sent', () => {
    expect(decodePush({ events: [{ id: 'bad' }], chain: { id: 'c-1_A', seq: 3 } })).toEqual({
      events: [{ id: 'bad' }],
      chain: { id: 'c-1_A', seq: 3 },
    });
    expect(decodePush({ events: [] })).toEqual({ events: [] });
  });

  it('reads what encodeChainedEvents writes', () => {
    const body: unknown = JSON.parse(
      JSON.stringify(encodeChainedEvents([], { id: '01J0000000000000000000000A', seq: 0 })),
    );
    expect(decodePush(body)).toEqual({ events: [], chain: { id: '01J0000000000000000000000A', seq: 0 } });
  });

  it.each<[string, unknown]>([
    ['a chain without seq', { id: 'a' }],
    ['a negative seq', { id: 'a', seq: -1 }],
    ['a fractional seq', { id: 'a', seq: 1.5 }],
    ['a seq as a string', { id: 'a', seq: '1' }],
    ['an empty id', { id: '', seq: 0 }],
    ['an id of 65 characters', { id: 'a'.repeat(65), seq: 0 }],
    ['an id with a slash', { id: 'a/b', seq: 0 }],
    ['an unknown chain member', { id: 'a', seq: 0, after: 'x' }],
    ['a chain that is not an object', 'a:0'],
  ])('refuses %s as invalid_request naming the field', (_name, chain) => {
    let caught: unknown;
    try {
      decodePush({ events: [], chain });
    } catch (error) {
      caught = error;
    }
    expect(problemFromError(caught)).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((caught as SyncError).details.field).toMatch(/^chain/);
  });

  it('is what decodePushRequest refuses: a server that does not order chains says so', () => {
    let caught: unknown;
    try {
      decodePushRequest({ events: [], chain: { id: 'a', seq: 0 } });
    } catch (error) {
      caught = error;
    }
    expect(problemFromError(caught)).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((caught as SyncError).details.field).toBe('chain');
  });
});

describe('encodeChainedEvents', () => {
  it.each<[string, unknown]>([
    ['an id with a space', { id: 'a b', seq: 0 }],
    ['a negative seq', { id: 'a', seq: -1 }],
    ['no chain', undefined],
  ])('refuses %s', (_name, chain) => {
    expect(() => encodeChainedEvents([], chain as never)).toThrow(SyncError);
  });
});
