import { describe, expect, it } from 'vitest';
import { CursorVersion } from '../version/cursor-version.js';
import { SyncError } from '../errors/sync-error.js';
import type { AppendResult } from '../server/server-event-log.js';
import { partialPushError } from './partial-push.js';

describe('partialPushError', () => {
  const results: AppendResult[] = [{ id: 'a', status: 'accepted', version: CursorVersion.of(1) }];

  it('keeps the code, retryability and details, and adds the results so far', () => {
    const cause = new SyncError('unavailable', 'Push failed', { details: { status: 503 } });
    const error = partialPushError(cause, results, 3) as SyncError;
    expect(error).toMatchObject({
      code: 'unavailable',
      retryable: true,
      cause,
      message: 'Push failed (after 1 of 3 events were pushed)',
      details: { status: 503, results, completed: 1 },
    });
    expect(error.details.results).not.toBe(results);
  });

  it('passes the error on as it is with no results yet, or when it is not a SyncError', () => {
    const cause = new SyncError('network', 'down');
    expect(partialPushError(cause, [], 3)).toBe(cause);
    const other = new Error('boom');
    expect(partialPushError(other, results, 3)).toBe(other);
  });
});
