import { CursorVersion } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { SseSubscriber, type EventBatch, type SubscriberLink } from './index.js';
import { events } from '../test/support.js';

function linked(subscriber: SseSubscriber): string[] {
  const calls: string[] = [];
  const link: SubscriberLink = {
    delivered: () => calls.push('delivered'),
    ready: () => calls.push('ready'),
    closed: () => calls.push('closed'),
    failed: () => calls.push('failed'),
  };
  subscriber.attach(link);
  return calls;
}

function batchOf(first: number, count: number): EventBatch {
  const items = events()
    .many(count)
    .map((event, i) => ({ event, version: CursorVersion.of(first + i) }));
  return { events: items, cursor: items.at(-1)!.version };
}

const text = (chunk: Uint8Array | undefined): string => new TextDecoder().decode(chunk);

describe('SseSubscriber', () => {
  it('writes retry, the opening message, batches and heartbeats byte for byte', async () => {
    const subscriber = new SseSubscriber(1234);
    linked(subscriber);
    const reader = subscriber.stream.getReader();
    subscriber.open(CursorVersion.of(7));
    const batch = batchOf(8, 2);
    subscriber.deliver(batch);
    subscriber.heartbeat();
    expect(subscriber.backlog).toBe(3);
    expect(text((await reader.read()).value)).toBe(
      'retry: 1234\nid: 7\nevent: events\ndata: {"events":[],"cursor":"7"}\n\n',
    );
    const wire = batch.events.map((item) => ({ event: item.event, version: item.version.toString() }));
    expect(text((await reader.read()).value)).toBe(
      `id: 9\nevent: events\ndata: ${JSON.stringify({ events: wire, cursor: '9' })}\n\n`,
    );
    expect(text((await reader.read()).value)).toBe(': heartbeat\n\n');
    expect(subscriber.backlog).toBe(0);
  });

  it('encodes a batch once for every subscriber it goes to', async () => {
    const batch = batchOf(1, 3);
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < 2; i++) {
      const subscriber = new SseSubscriber(0);
      linked(subscriber);
      const reader = subscriber.stream.getReader();
      subscriber.deliver(batch);
      chunks.push((await reader.read()).value!);
    }
    expect(chunks[1]).toBe(chunks[0]);
  });

  it('tells the broker what the reader took, and that it went away', async () => {
    const subscriber = new SseSubscriber(0);
    const calls = linked(subscriber);
    const reader = subscriber.stream.getReader();
    subscriber.open(CursorVersion.ZERO);
    subscriber.deliver(batchOf(1, 1));
    await reader.read(); // the opening
    await reader.read(); // the batch
    const pending = reader.read(); // nothing waiting: the reader is ready for more
    await Promise.resolve();
    subscriber.deliver(batchOf(2, 1)); // straight to the waiting read
    await pending;
    expect(calls).toEqual(['ready', 'delivered', 'ready', 'delivered']);
    await reader.cancel();
    expect(calls.at(-1)).toBe('closed');
    expect(subscriber.ended).toBe(true);
  });

  it('drops what is unsent and ends the stream when closed', async () => {
    const subscriber = new SseSubscriber(0);
    linked(subscriber);
    const reader = subscriber.stream.getReader();
    subscriber.open(CursorVersion.ZERO);
    subscriber.deliver(batchOf(1, 1));
    subscriber.close();
    expect(subscriber.backlog).toBe(0);
    expect(await reader.read()).toEqual({ done: true, value: undefined });
    subscriber.deliver(batchOf(2, 1)); // after the end: nothing
    expect(subscriber.backlog).toBe(0);
  });
});
