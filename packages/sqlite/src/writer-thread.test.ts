import { SyncError } from '@eventsync/core';
import { expectSyncError } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { BatchFields } from './append-batch.js';
import { WRITER_SCRIPT, WriterThread } from './writer-thread.js';

const failing = new URL('../test/fixtures/failing-writer.mjs', import.meta.url);

/** A thread of the stand-in script, failing as `behaviour` says (see test/fixtures/failing-writer.mjs). */
function thread(behaviour: string): WriterThread {
  return new WriterThread({ path: behaviour, synchronous: 'FULL', busyTimeoutMs: 0 }, failing);
}

/** `count` events as the thread takes them: seven fields each. */
const fields = (count: number): BatchFields => Array.from({ length: count * 7 }, () => 'x');

describe('WriterThread', () => {
  it('runs from the built dist/sqlite-writer-thread.js', () => {
    expect(WRITER_SCRIPT.pathname).toMatch(/\/packages\/sqlite\/dist\/sqlite-writer-thread\.js$/);
  });

  it('refuses to start without its script, saying to build the package', async () => {
    const missing = new URL('./no-such-writer.js', import.meta.url);
    const settings = { path: 'log.db', synchronous: 'FULL', busyTimeoutMs: 0 } as const;
    const error = await expectSyncError(() => new WriterThread(settings, missing), 'storage');
    expect(error.message).toMatch(/no-such-writer\.js is missing: build @eventsync\/sqlite \(pnpm build\)/);
  });

  it('is ready once the thread says so, and answers an append asked before', async () => {
    const writer = thread('close-fails');
    const early = writer.append('acme', fields(2));
    await writer.ready();
    expect(await early).toEqual([1, 2]);
    await writer.close().catch(() => {});
  });

  it('is no longer ready once a started thread stopped', async () => {
    const writer = thread('exit');
    await writer.ready();
    expect(await writer.append('acme', fields(1))).toEqual([1]);
    await expectSyncError(() => writer.append('acme', fields(1)), 'storage'); // it exits on the second
    const error = await expectSyncError(() => writer.ready(), 'storage');
    expect(error.message).toMatch(/writer thread stopped \(the thread exited with code 3\)/);
    await writer.close();
  });

  it('is not ready while the thread has not said so, and still takes appends', async () => {
    const writer = thread('never-ready');
    let ready = false;
    writer.ready().then(
      () => (ready = true),
      () => undefined, // it ends without ever being ready
    );
    expect(await writer.append('acme', fields(1))).toEqual([1]);
    expect(ready).toBe(false);
    await writer.close();
  });

  it('rejects ready with the storage error of a thread that could not open its connection', async () => {
    const writer = thread('stopped');
    const error = await expectSyncError(() => writer.ready(), 'storage');
    expect(error.message).toMatch(/writer thread did not start \(Could not open log\.db/);
    await writer.close();
  });

  it('rejects the pending and later appends with a storage error when the thread exits', async () => {
    const writer = thread('exit');
    const outcomes = [1, 2, 3].map((count) => writer.append('acme', fields(count)).catch((error: unknown) => error));
    const [first, second, third] = await Promise.all(outcomes);
    expect(first).toEqual([1]);
    for (const error of [second, third]) {
      expect(error).toBeInstanceOf(SyncError);
      expect(error).toMatchObject({ code: 'storage', retryable: false });
      expect((error as SyncError).message).toMatch(/writer thread stopped \(the thread exited with code 3\)/);
      expect((error as SyncError).cause).toBeInstanceOf(Error);
    }
    const later = await expectSyncError(() => writer.append('acme', fields(1)), 'storage');
    expect(later.message).toMatch(/writer thread stopped/);
    await writer.close();
  });

  it('rejects the pending and later appends with a storage error when the thread throws, the error as cause', async () => {
    const writer = thread('throw');
    const outcomes = [1, 2].map((count) => writer.append('acme', fields(count)).catch((error: unknown) => error));
    const [first, second] = await Promise.all(outcomes);
    expect(first).toEqual([1]);
    expect(second).toMatchObject({ code: 'storage', message: expect.stringMatching(/a bug in the writer/) as unknown });
    expect(((second as SyncError).cause as Error).message).toBe('a bug in the writer');
    await expectSyncError(() => writer.append('acme', fields(1)), 'storage');
    await writer.close();
  });

  it('rejects appends with a storage error whose cause is the error that kept the thread from opening its connection', async () => {
    const writer = thread('stopped');
    const error = await expectSyncError(() => writer.append('acme', fields(1)), 'storage');
    expect(error.message).toMatch(/writer thread stopped \(Could not open log\.db/);
    const cause = error.cause as SyncError;
    expect(cause).toBeInstanceOf(SyncError);
    expect(cause.details.sqliteCode).toBe('SQLITE_CANTOPEN');
    expect((cause.cause as { code?: string }).code).toBe('SQLITE_CANTOPEN');
    await writer.close();
  });

  it('fails close with the error of the thread’s connection, and ends the thread all the same', async () => {
    const writer = thread('close-fails');
    expect(await writer.append('acme', fields(2))).toEqual([1, 2]);
    const error = await expectSyncError(() => writer.close(), 'storage');
    expect(error.message).toMatch(/disk I\/O error/);
    await expectSyncError(() => writer.append('acme', fields(1)), 'closed');
  });

  it('rejects an append whose signal fired already, and takes the next', async () => {
    const writer = thread('close-fails');
    const reason = new Error('gone');
    await expect(writer.append('acme', fields(1), AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(await writer.append('acme', fields(3))).toEqual([1, 2, 3]);
    await writer.close().catch(() => {});
  });
});
