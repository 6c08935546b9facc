import { CursorVersion, type AppendResult, type EventPage } from '@eventsync/core';
import { expectSyncError, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import {
  decodeHealthResponse,
  decodeProblem,
  decodePullResponse,
  decodePushResponse,
  decodeStreamBatch,
  decodeVersionResponse,
} from './decode.js';
import { encodePullResponse, encodePushResponse, encodeStreamBatch } from './encode.js';

const events = new TestEvents({ clientId: 'phone' });
const v = (n: number) => CursorVersion.of(n);
/** What a body looks like after the wire: JSON text parsed back. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('decodePushResponse', () => {
  const batch = events.many(4);
  const results: AppendResult[] = [
    { id: batch[0]!.id, status: 'accepted', version: v(43) },
    { id: batch[1]!.id, status: 'duplicate', version: v(17) },
    { id: batch[2]!.id, status: 'conflict', latest: v(44), reason: 'landed after 12' },
    { id: batch[3]!.id, status: 'rejected', code: 'forbidden', reason: 'read-only list' },
  ];

  it('round-trips every kind of result with CursorVersion objects', () => {
    const decoded = decodePushResponse(wire(encodePushResponse(results)), batch);
    expect(decoded).toEqual(results);
    expect(decoded[0]?.status === 'accepted' && decoded[0].version).toBeInstanceOf(CursorVersion);
  });

  it('takes the batch as ids too, and ignores unknown fields', () => {
    const body = { results: [{ ...encodePushResponse(results.slice(0, 1)).results[0], extra: 1 }], more: true };
    expect(decodePushResponse(body, [batch[0]!.id])).toEqual(results.slice(0, 1));
  });

  it.each<[string, unknown, string]>([
    ['not an object', 'hello', '(root)'],
    ['no results', {}, 'results'],
    ['results not an array', { results: {} }, 'results'],
    ['an unknown status', { results: [{ id: 'x', status: 'maybe' }] }, 'results.0.status'],
    ['a bad version', { results: [{ id: 'x', status: 'accepted', version: '01' }] }, 'results.0.version'],
    ['a number version', { results: [{ id: 'x', status: 'accepted', version: 1 }] }, 'results.0.version'],
    [
      'an unsafe version',
      { results: [{ id: 'x', status: 'accepted', version: '9007199254740993' }] },
      'results.0.version',
    ],
    ['a conflict without latest', { results: [{ id: 'x', status: 'conflict', reason: '' }] }, 'results.0.latest'],
    ['a rejection without code', { results: [{ id: 'x', status: 'rejected', reason: '' }] }, 'results.0.code'],
  ])('refuses %s as a protocol error naming the field', async (_name, body, field) => {
    const error = await expectSyncError(() => decodePushResponse(body, ['x']), 'protocol');
    expect(error.details.field).toBe(field);
    expect(error.retryable).toBe(false);
  });

  it('refuses results that do not match the batch: count, ids, order', async () => {
    const body = wire(encodePushResponse(results));
    await expectSyncError(() => decodePushResponse(body, batch.slice(0, 3)), 'protocol');
    const swapped = wire(encodePushResponse([results[1]!, results[0]!, results[2]!, results[3]!]));
    const error = await expectSyncError(() => decodePushResponse(swapped, batch), 'protocol');
    expect(error.message).toContain('result 0 is for');
  });

  it('takes the empty id the server gives the rejection of a pushed item without an id', () => {
    const { id: _id, ...withoutId } = batch[0]!;
    const sent = [withoutId, batch[1]!] as unknown as typeof batch;
    const body = {
      results: [
        { id: '', status: 'rejected', code: 'invalid_event', reason: 'Invalid event: id must be a ULID' },
        { id: batch[1]!.id, status: 'accepted', version: '7' },
      ],
    };
    expect(decodePushResponse(body, sent)).toEqual([
      { id: '', status: 'rejected', code: 'invalid_event', reason: 'Invalid event: id must be a ULID' },
      { id: batch[1]!.id, status: 'accepted', version: v(7) },
    ]);
  });

  it('refuses an empty id on any result but a rejection, and on a rejection of an event that had one', async () => {
    const accepted = { results: [{ id: '', status: 'accepted', version: '1' }] };
    const error = await expectSyncError(() => decodePushResponse(accepted, ['']), 'protocol');
    expect(error.details.field).toBe('results.0.id');
    const rejected = { results: [{ id: '', status: 'rejected', code: 'invalid_event', reason: '' }] };
    await expectSyncError(() => decodePushResponse(rejected, batch.slice(0, 1)), 'protocol');
  });

  it('refuses accepted versions that do not increase', async () => {
    const body = {
      results: [
        { id: batch[0]!.id, status: 'accepted', version: '5' },
        { id: batch[1]!.id, status: 'accepted', version: '5' },
      ],
    };
    await expectSyncError(() => decodePushResponse(body, batch.slice(0, 2)), 'protocol');
  });
});

describe('decodePullResponse', () => {
  const sent = events.many(3);
  const page: EventPage = {
    events: sent.map((event, i) => ({ event, version: v(43 + i) })),
    next: v(45),
    hasMore: true,
  };

  it('round-trips a page with valid events and CursorVersions', () => {
    const decoded = decodePullResponse(wire(encodePullResponse(page)), v(42));
    expect(decoded.events.map((item) => item.event)).toEqual(sent);
    expect(decoded.events.map((item) => item.version.value)).toEqual([43, 44, 45]);
    expect(decoded.next.equals(v(45))).toBe(true);
    expect(decoded.hasMore).toBe(true);
  });

  it('keeps __proto__ in event data as data, polluting nothing', () => {
    const text = JSON.stringify(
      encodePullResponse({ events: [{ event: sent[0]!, version: v(1) }], next: v(1), hasMore: false }),
    );
    const body = JSON.parse(text.replace('"data":{', '"data":{"__proto__":{"polluted":true},')) as unknown;
    const decoded = decodePullResponse(body, v(0));
    const data = decoded.events[0]!.event.data as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(data, '__proto__')?.value).toEqual({ polluted: true });
    expect(data.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('accepts events larger than the default 64 KiB: the server checked its own limits', () => {
    const big = { ...events.make('a'), data: { text: 'x'.repeat(70_000) } };
    const decoded = decodePullResponse(wire({ events: [{ event: big, version: '1' }], next: '1', hasMore: false }));
    expect(decoded.events).toHaveLength(1);
  });

  it.each<[string, (body: Record<string, unknown>) => unknown, string]>([
    ['a missing hasMore', ({ hasMore: _, ...rest }) => rest, 'hasMore'],
    ['an invalid event', (body) => ({ ...body, events: [{ event: { id: 'nope' }, version: '43' }] }), 'events.0.event'],
    [
      'an event with unknown fields',
      (body) => ({ ...body, events: [{ event: { ...sent[0], x: 1 }, version: '43' }] }),
      'events.0.event',
    ],
    [
      'versions out of order',
      (body) => ({ ...body, events: [...(body.events as unknown[])].reverse() }),
      'events.1.version',
    ],
    [
      'a version not after since',
      (body) => ({ ...body, events: [{ event: sent[0], version: '42' }] }),
      'events.0.version',
    ],
    ['next before the last event', (body) => ({ ...body, next: '44' }), 'next'],
    ['next before since', () => ({ events: [], next: '41', hasMore: false }), 'next'],
    ['hasMore without progress', () => ({ events: [], next: '42', hasMore: true }), 'next'],
  ])('refuses %s', async (_name, change, field) => {
    const body = change(wire(encodePullResponse(page)) as Record<string, unknown>);
    const error = await expectSyncError(() => decodePullResponse(body, v(42)), 'protocol');
    expect(error.details.field).toBe(field);
  });
});

describe('decodeStreamBatch', () => {
  it('round-trips a batch and an empty opening batch', () => {
    const [a, b] = events.many(2);
    const batch = decodeStreamBatch(
      wire(
        encodeStreamBatch({
          events: [
            { event: a!, version: v(7) },
            { event: b!, version: v(8) },
          ],
        }),
      ),
    );
    expect(batch.cursor.value).toBe(8);
    expect(batch.events.map((item) => item.event.id)).toEqual([a!.id, b!.id]);
    expect(decodeStreamBatch({ events: [], cursor: '5' }).events).toEqual([]);
  });

  it('refuses a cursor before its last event, and an empty batch going back', async () => {
    const [a] = events.many(1);
    await expectSyncError(
      () => decodeStreamBatch(wire({ events: [{ event: a, version: '9' }], cursor: '8' })),
      'protocol',
    );
    await expectSyncError(() => decodeStreamBatch({ events: [], cursor: '3' }, v(4)), 'protocol');
  });
});

describe('the small responses', () => {
  it('decodes the version and health answers', async () => {
    expect(decodeVersionResponse({ latest: '44' }).value).toBe(44);
    expect(decodeHealthResponse({ status: 'ok', protocol: 1, extra: true })).toEqual({ status: 'ok', protocol: 1 });
    await expectSyncError(() => decodeVersionResponse({ latest: -1 }), 'protocol');
    await expectSyncError(() => decodeHealthResponse({ status: 'bad', protocol: 1 }), 'protocol');
  });

  it('decodes a problem document, filling in what it lacks', async () => {
    const decoded = decodeProblem(
      { code: 'limit_exceeded', limit: 'maxEventsPerPush', max: 1000, actual: 1500, x: 1 },
      413,
    );
    expect(decoded).toEqual({
      type: 'urn:eventsync:problem:limit_exceeded',
      title: 'limit_exceeded',
      status: 413,
      code: 'limit_exceeded',
      limit: 'maxEventsPerPush',
      max: 1000,
      actual: 1500,
    });
    await expectSyncError(() => decodeProblem({ title: 'no code' }), 'protocol');
  });
});
