import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SyncError } from '../errors/sync-error.js';
import { CallScope, CallScopes } from './call-scope.js';

function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

function listeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('CallScope', () => {
  it("fires with the caller's own reason when the caller's signal fires", async () => {
    const caller = new AbortController();
    const scope = new CallScope({ signals: [caller.signal], timeoutMs: 1000, what: 'Push' });
    const waiting = scope.race(never());
    const reason = new Error('the user gave up');
    caller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(scope.signal.reason).toBe(reason);
    expect(scope.timedOut).toBe(false);
    scope.dispose();
  });

  it('fires with closed when the transport closes', async () => {
    const closing = new AbortController();
    const scope = new CallScope({ signals: [undefined, closing.signal], timeoutMs: 1000 });
    const waiting = scope.race(never());
    closing.abort(new SyncError('closed', 'The transport was closed'));
    await expect(waiting).rejects.toMatchObject({ code: 'closed' });
    expect(scope.timedOut).toBe(false);
    scope.dispose();
  });

  it('fires with timeout and its details when the time is up', async () => {
    vi.useFakeTimers();
    const scope = new CallScope({ timeoutMs: 250, what: 'Pulling' });
    const waiting = scope.race(never());
    vi.advanceTimersByTime(249);
    expect(scope.signal.aborted).toBe(false);
    vi.advanceTimersByTime(1);
    await expect(waiting).rejects.toMatchObject({
      name: 'SyncError',
      code: 'timeout',
      message: 'Pulling got no answer within 250 ms',
      details: { timeoutMs: 250 },
      retryable: true,
    });
    expect(scope.timedOut).toBe(true);
    scope.dispose();
  });

  it('sets no timer without a timeout', () => {
    vi.useFakeTimers();
    const scope = new CallScope({ signals: [new AbortController().signal], timeoutMs: undefined });
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(2 ** 31);
    expect(scope.signal.aborted).toBe(false);
    scope.dispose();
  });

  it('takes a timeout longer than a timer can wait for none, rather than firing at once', async () => {
    // Real timers: Node turns a delay past 2^31 - 1 ms into 1 ms.
    const scope = new CallScope({ timeoutMs: 3_000_000_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(scope.signal.aborted).toBe(false);
    scope.dispose();
  });

  it('removes its listeners and its timer on dispose', () => {
    vi.useFakeTimers();
    const caller = new AbortController();
    const closing = new AbortController();
    const scope = new CallScope({ signals: [caller.signal, closing.signal], timeoutMs: 1000 });
    expect(listeners(caller.signal)).toBe(1);
    expect(listeners(closing.signal)).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    scope.dispose();
    scope.dispose();
    expect(listeners(caller.signal)).toBe(0);
    expect(listeners(closing.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    caller.abort(new Error('too late'));
    expect(scope.signal.aborted).toBe(false);
  });

  it('leaves no listener on a long-lived signal after many calls', async () => {
    const closing = new AbortController();
    for (let call = 0; call < 100; call++) {
      const scope = new CallScope({ signals: [undefined, closing.signal], timeoutMs: 1000 });
      try {
        await scope.race(Promise.resolve(call));
      } finally {
        scope.dispose();
      }
    }
    expect(listeners(closing.signal)).toBe(0);
  });

  it('aborts at once, with no timer and no listener, for a signal that has fired already', async () => {
    vi.useFakeTimers();
    const reason = new Error('aborted before the call');
    const caller = AbortSignal.abort(reason);
    const closing = new AbortController();
    const scope = new CallScope({ signals: [caller, closing.signal], timeoutMs: 1000 });
    expect(scope.signal.aborted).toBe(true);
    expect(scope.signal.reason).toBe(reason);
    expect(() => scope.throwIfAborted()).toThrow(reason);
    expect(listeners(closing.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    await expect(scope.race(Promise.resolve('answer'))).rejects.toBe(reason);
    scope.dispose();
    // The fired signal after a live one: still no listener left on the live one.
    const later = new CallScope({ signals: [closing.signal, caller], timeoutMs: 1000 });
    expect(later.signal.reason).toBe(reason);
    expect(listeners(closing.signal)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('keeps the first reason when several signals fire', () => {
    const caller = new AbortController();
    const closing = new AbortController();
    const scope = new CallScope({ signals: [caller.signal, closing.signal] });
    const first = new Error('first');
    caller.abort(first);
    closing.abort(new SyncError('closed', 'The transport was closed'));
    scope.abort(new Error('later'));
    expect(scope.signal.reason).toBe(first);
    scope.dispose();
  });

  it('stops the timeout and still follows its signals after stopTimer', () => {
    vi.useFakeTimers();
    const caller = new AbortController();
    const scope = new CallScope({ signals: [caller.signal], timeoutMs: 100 });
    scope.stopTimer();
    vi.advanceTimersByTime(1000);
    expect(scope.signal.aborted).toBe(false);
    const reason = new Error('closed the stream');
    caller.abort(reason);
    expect(scope.signal.reason).toBe(reason);
    scope.dispose();
  });

  it('cancels with the reason given to abort', () => {
    const scope = new CallScope();
    const silent = new SyncError('timeout', 'The stream was silent');
    scope.abort(silent);
    expect(scope.signal.reason).toBe(silent);
    scope.dispose();
  });

  it('refuses a timeout that is not positive', () => {
    for (const timeoutMs of [0, -1, Number.NaN]) {
      expect(() => new CallScope({ timeoutMs })).toThrow(expect.objectContaining({ code: 'invalid_input' }));
    }
  });

  describe('race', () => {
    it('settles as the promise does and removes its listener', async () => {
      const signal = new AbortController().signal;
      await expect(CallScope.race(Promise.resolve(7), signal)).resolves.toBe(7);
      const failure = new Error('refused');
      await expect(CallScope.race(Promise.reject(failure), signal)).rejects.toBe(failure);
      expect(listeners(signal)).toBe(0);
    });

    it("rejects with the signal's reason when it fires first, and removes its listener", async () => {
      const controller = new AbortController();
      const waiting = CallScope.race(never(), controller.signal);
      expect(listeners(controller.signal)).toBe(1);
      const reason = new Error('stop');
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect(listeners(controller.signal)).toBe(0);
    });

    it('rejects at once for a signal that has fired, without an unhandled rejection of the promise', async () => {
      const reason = new Error('gone');
      await expect(CallScope.race(Promise.reject(new Error('ignored')), AbortSignal.abort(reason))).rejects.toBe(
        reason,
      );
    });
  });
});

describe('CallScopes', () => {
  it('aborts the calls in flight on close with its reason, and every call opened after', async () => {
    const calls = new CallScopes();
    const settled = calls.open({ what: 'one' });
    calls.release(settled);
    const first = calls.open({ what: 'two' });
    const second = calls.open({ what: 'three' });
    expect(calls.size).toBe(2);
    const closed = new SyncError('closed', 'The transport was closed');
    calls.close(closed);
    calls.close(new Error('a second close keeps the first reason'));
    expect(settled.signal.aborted).toBe(false);
    expect([first.signal.reason, second.signal.reason]).toEqual([closed, closed]);
    const later = calls.open({ what: 'after close' });
    await expect(later.race(Promise.resolve('answer'))).rejects.toBe(closed);
    for (const scope of [first, second, later]) calls.release(scope);
    expect(calls.size).toBe(0);
  });

  it("removes each call's listener from its caller's signal when the call is released", () => {
    const caller = new AbortController();
    const calls = new CallScopes();
    const scopes = Array.from({ length: 20 }, () => calls.open({ signals: [caller.signal] }));
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(20);
    for (const scope of scopes) calls.release(scope);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });
});
