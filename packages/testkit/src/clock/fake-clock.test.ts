import { isSyncError, SyncError } from '@eventsync/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_FAKE_CLOCK_OPTIONS, FakeClock } from './fake-clock.js';
import type { Timers } from './timers.js';

describe('FakeClock', () => {
  it('starts at 2026-01-01T00:00:00Z unless told otherwise', () => {
    expect(new FakeClock().now()).toBe(Date.UTC(2026, 0, 1));
    expect(DEFAULT_FAKE_CLOCK_OPTIONS.now).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(new FakeClock({ now: 5 }).now()).toBe(5);
    expect(new FakeClock({ now: new Date('2030-05-01T00:00:00Z') }).now()).toBe(Date.parse('2030-05-01T00:00:00Z'));
  });

  it('refuses a start time that is not a finite number', () => {
    expect(() => new FakeClock({ now: Number.NaN })).toThrow(SyncError);
    expect(() => new FakeClock({ now: new Date('nope') })).toThrow(SyncError);
    expect(() => new FakeClock({ maxTimers: 0 })).toThrow(SyncError);
  });

  it('moves the wall clock by exactly the span advanced', async () => {
    const clock = new FakeClock({ now: 1000 });
    await clock.advance(250);
    expect(clock.now()).toBe(1250);
    await clock.advance(0);
    expect(clock.now()).toBe(1250);
  });

  it('fires timers in time order, and timers due together in the order they were scheduled', async () => {
    const clock = new FakeClock({ now: 0 });
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 30);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`b1@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`b2@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`late@${clock.now()}`), 31);
    await clock.advance(30);
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30']);
    expect(clock.pendingTimers).toBe(1);
  });

  it('passes extra arguments to the callback as the globals do', async () => {
    const clock = new FakeClock();
    const seen: unknown[] = [];
    clock.setTimeout((a: number, b: string) => seen.push(a, b), 1, 7, 'x');
    await clock.advance(1);
    expect(seen).toEqual([7, 'x']);
  });

  it('fires timers scheduled by timers when they fall within the span', async () => {
    const clock = new FakeClock({ now: 0 });
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => {
        fired.push(clock.now());
        clock.setTimeout(() => fired.push(clock.now()), 0);
        clock.setTimeout(() => fired.push(clock.now()), 100);
      }, 5);
    }, 10);
    await clock.advance(20);
    expect(fired).toEqual([10, 15, 15]);
    expect(clock.pendingTimers).toBe(1);
    await clock.advance(95);
    expect(fired).toEqual([10, 15, 15, 115]);
  });

  it('repeats an interval until it is cleared', async () => {
    const clock = new FakeClock({ now: 0 });
    const ticks: number[] = [];
    const handle = clock.setInterval(() => ticks.push(clock.now()), 10);
    await clock.advance(35);
    expect(ticks).toEqual([10, 20, 30]);
    clock.clearInterval(handle);
    await clock.advance(100);
    expect(ticks).toEqual([10, 20, 30]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets an interval clear itself from its own callback', async () => {
    const clock = new FakeClock();
    let count = 0;
    const handle = clock.setInterval(() => {
      if (++count === 3) clock.clearInterval(handle);
    }, 1);
    await clock.runAll();
    expect(count).toBe(3);
  });

  it('never fires a cleared timeout, and ignores unknown handles', async () => {
    const clock = new FakeClock();
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 10);
    clock.clearTimeout(handle);
    clock.clearTimeout(handle);
    clock.clearTimeout(undefined);
    clock.clearTimeout(12345);
    await clock.advance(100);
    expect(fired).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it('lets a timer clear a later one due at the same time', async () => {
    const clock = new FakeClock();
    const fired: string[] = [];
    let second = 0;
    clock.setTimeout(() => {
      fired.push('first');
      clock.clearTimeout(second);
    }, 5);
    second = clock.setTimeout(() => fired.push('second'), 5);
    await clock.advance(5);
    expect(fired).toEqual(['first']);
  });

  it('runs promise chains started by a timer before the next timer fires', async () => {
    const clock = new FakeClock({ now: 0 });
    const steps: string[] = [];
    const chain = async (): Promise<void> => {
      for (let i = 0; i < 20; i++) await Promise.resolve();
      steps.push(`chain done@${clock.now()}`);
      await clock.sleep(5);
      steps.push(`slept@${clock.now()}`);
    };
    clock.setTimeout(() => void chain(), 10);
    clock.setTimeout(() => steps.push(`next@${clock.now()}`), 11);
    await clock.advance(20);
    expect(steps).toEqual(['chain done@10', 'next@11', 'slept@15']);
  });

  it('runs promise chains that were pending before advance was called', async () => {
    const clock = new FakeClock({ now: 0 });
    const steps: number[] = [];
    void (async () => {
      await Promise.resolve();
      await Promise.resolve();
      await clock.sleep(10);
      steps.push(clock.now());
    })();
    await clock.advance(10);
    expect(steps).toEqual([10]);
  });

  it('runs every timer with runAll, moving the clock to the last one', async () => {
    const clock = new FakeClock({ now: 0 });
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 1000);
    }, 500);
    await clock.runAll();
    expect(fired).toEqual([500, 1500]);
    expect(clock.now()).toBe(1500);
    expect(clock.pendingTimers).toBe(0);
  });

  it('gives up on runAll past maxTimers with a clear error', async () => {
    const clock = new FakeClock({ maxTimers: 50 });
    let ticks = 0;
    clock.setInterval(() => ticks++, 10);
    const error = await clock.runAll().catch((e: unknown) => e);
    expect(isSyncError(error, 'limit_exceeded')).toBe(true);
    expect((error as SyncError).message).toMatch(/interval/);
    expect((error as SyncError).details).toMatchObject({ limit: 'maxTimers', max: 50 });
    expect(ticks).toBe(50);
  });

  it('bounds advance too, so a zero-delay timer loop cannot hang a test', async () => {
    const clock = new FakeClock({ maxTimers: 100 });
    const again = (): void => void clock.setTimeout(again, 0);
    again();
    await expect(clock.advance(1)).rejects.toMatchObject({ code: 'limit_exceeded' });
  });

  it('refuses a negative span and a second advance while one runs', async () => {
    const clock = new FakeClock();
    await expect(clock.advance(-1)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(clock.advance(Number.NaN)).rejects.toMatchObject({ code: 'invalid_input' });
    const first = clock.advance(10);
    await expect(clock.advance(10)).rejects.toMatchObject({ code: 'invalid_input' });
    await first;
  });

  it('rejects advance with the error of a throwing callback', async () => {
    const clock = new FakeClock({ now: 0 });
    const boom = new Error('boom');
    clock.setTimeout(() => {
      throw boom;
    }, 10);
    await expect(clock.advance(50)).rejects.toBe(boom);
    expect(clock.now()).toBe(10);
    await clock.advance(40);
    expect(clock.now()).toBe(50);
  });

  it('counts pending timers', () => {
    const clock = new FakeClock();
    expect(clock.pendingTimers).toBe(0);
    const a = clock.setTimeout(() => undefined, 1);
    clock.setInterval(() => undefined, 1);
    expect(clock.pendingTimers).toBe(2);
    clock.clearTimeout(a);
    expect(clock.pendingTimers).toBe(1);
  });

  it('jumps the wall clock backwards and forwards without firing or moving timers', async () => {
    const clock = new FakeClock({ now: 10_000 });
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now()), 100);
    clock.set(5_000);
    expect(clock.now()).toBe(5_000);
    expect(fired).toEqual([]);
    clock.set(1_000_000);
    expect(fired).toEqual([]);
    clock.set(2_000);
    await clock.advance(99);
    expect(fired).toEqual([]);
    expect(clock.now()).toBe(2_099);
    await clock.advance(1);
    expect(fired).toEqual([2_100]);
    expect(() => clock.set(Number.POSITIVE_INFINITY)).toThrow(SyncError);
  });

  it('resolves sleep after the span on this clock', async () => {
    const clock = new FakeClock({ now: 0 });
    let woke = false;
    const sleeping = clock.sleep(100).then(() => (woke = true));
    await clock.advance(99);
    expect(woke).toBe(false);
    await clock.advance(1);
    await sleeping;
    expect(woke).toBe(true);
  });

  it('rejects sleep with the signal reason and clears its timer when aborted', async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const reason = new Error('stop');
    const sleeping = clock.sleep(100, { signal: controller.signal });
    expect(clock.pendingTimers).toBe(1);
    controller.abort(reason);
    await expect(sleeping).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(1, { signal: controller.signal })).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects sleep with SyncError aborted when the signal has no reason object', async () => {
    const clock = new FakeClock();
    const signal = { aborted: true, reason: undefined } as unknown as AbortSignal;
    await expect(clock.sleep(1, { signal })).rejects.toMatchObject({ code: 'aborted' });
  });

  it('works with its methods detached, as injected timers', async () => {
    const clock = new FakeClock({ now: 0 });
    const { now, setTimeout, clearTimeout } = clock;
    const timers: Timers = { setTimeout, clearTimeout };
    const fired: number[] = [];
    const handle = timers.setTimeout(() => fired.push(now()), 10);
    timers.setTimeout(() => fired.push(now()), 20);
    timers.clearTimeout(handle);
    await clock.advance(20);
    expect(fired).toEqual([20]);
    const asTimers: Timers = clock;
    expect(asTimers).toBe(clock);
  });

  it('refuses a callback that is not a function', () => {
    const clock = new FakeClock();
    expect(() => clock.setTimeout('code' as unknown as () => void, 1)).toThrow(SyncError);
  });
});
