import { describe, expect, it } from 'vitest';
import { isSyncError, SYNC_ERROR_CODES, SyncError } from './sync-error.js';

describe('SyncError', () => {
  it('carries its code, message and name', () => {
    const error = new SyncError('quota', 'The disk is full');
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(SyncError);
    expect(error.code).toBe('quota');
    expect(error.message).toBe('The disk is full');
    expect(error.name).toBe('SyncError');
    expect(String(error)).toBe('SyncError: The disk is full');
    expect(error.stack).toContain('The disk is full');
  });

  it('has empty details and no cause by default', () => {
    const error = new SyncError('internal', 'oops');
    expect(error.details).toEqual({});
    expect(error.cause).toBeUndefined();
    expect('cause' in error).toBe(false);
  });

  it('keeps the details it was given', () => {
    const details = { limit: 'maxEventBytes', max: 10, actual: 11, eventId: 'e1' };
    expect(new SyncError('limit_exceeded', 'too big', { details }).details).toEqual(details);
  });

  it('keeps the cause it was given, even a falsy one', () => {
    const cause = new DOMException('Quota exceeded', 'QuotaExceededError');
    expect(new SyncError('quota', 'full', { cause }).cause).toBe(cause);
    expect(new SyncError('internal', 'x', { cause: 0 }).cause).toBe(0);
    expect(new SyncError('internal', 'x', { cause: null }).cause).toBeNull();
  });

  it.each(SYNC_ERROR_CODES.map((code) => [code, ['network', 'timeout', 'unavailable'].includes(code)] as const))(
    'makes %s retryable: %s',
    (code, retryable) => {
      expect(new SyncError(code, 'x').retryable).toBe(retryable);
    },
  );

  it('lets the caller override whether it is retryable', () => {
    expect(new SyncError('network', 'x', { retryable: false }).retryable).toBe(false);
    expect(new SyncError('storage', 'x', { retryable: true }).retryable).toBe(true);
  });

  it('lists every code once', () => {
    expect(new Set(SYNC_ERROR_CODES).size).toBe(SYNC_ERROR_CODES.length);
    expect(SYNC_ERROR_CODES).toContain('invalid_input');
    expect(SYNC_ERROR_CODES).toContain('limit_exceeded');
  });

  it('turns into a plain object for JSON without its cause', () => {
    const error = new SyncError('unavailable', 'Try later', {
      details: { retryAfterMs: 500, status: 503 },
      cause: new Error('secret internals'),
    });
    const json = error.toJSON();
    expect(json).toEqual({
      name: 'SyncError',
      code: 'unavailable',
      message: 'Try later',
      details: { retryAfterMs: 500, status: 503 },
      retryable: true,
    });
    expect(JSON.parse(JSON.stringify(error))).toEqual(json);
    expect(JSON.stringify(error)).not.toContain('secret internals');
    expect(structuredClone(json)).toEqual(json);
  });
});

describe('isSyncError', () => {
  const error = new SyncError('timeout', 'slow');

  it('recognises a SyncError of any code without codes', () => {
    expect(isSyncError(error)).toBe(true);
  });

  it('recognises a SyncError of one of the given codes', () => {
    expect(isSyncError(error, 'timeout')).toBe(true);
    expect(isSyncError(error, 'network', 'timeout')).toBe(true);
  });

  it('refuses a SyncError of other codes', () => {
    expect(isSyncError(error, 'network')).toBe(false);
    expect(isSyncError(error, 'network', 'quota')).toBe(false);
  });

  it.each([
    ['a plain Error', new Error('x')],
    ['an Error with a code', Object.assign(new Error('x'), { code: 'timeout' })],
    ['a look-alike object', { name: 'SyncError', code: 'timeout', message: 'x' }],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'timeout'],
  ])('refuses %s', (_name, value) => {
    expect(isSyncError(value)).toBe(false);
    expect(isSyncError(value, 'timeout')).toBe(false);
  });
});
