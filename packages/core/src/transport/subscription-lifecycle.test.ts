import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SyncError } from '../errors/sync-error.js';
import { SubscriptionLifecycle } from './subscription-lifecycle.js';
import type { SubscriptionState } from './transport.js';

function recorder(): {
  states: [SubscriptionState, string | undefined][];
  onStateChange: (state: SubscriptionState, error?: SyncError) => void;
} {
  const states: [SubscriptionState, string | undefined][] = [];
  return { states, onStateChange: (state, error) => void states.push([state, error?.code]) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('SubscriptionLifecycle', () => {
  it('runs nothing before start has returned', async () => {
    const life = new SubscriptionLifecycle({}, () => undefined);
    const run = vi.fn();
    life.start(run);
    expect(run).not.toHaveBeenCalled();
    await Promise.resolve();
    expect(run).toHaveBeenCalledOnce();
  });

  it('tells each state once per change, and closed last with its error', () => {
    const { states, onStateChange } = recorder();
    const life = new SubscriptionLifecycle({ onStateChange }, () => undefined);
    life.setState('connecting');
    life.setState('connecting');
    life.setState('live');
    life.setState('connecting', new SyncError('network', 'The socket went'));
    const refused = new SyncError('forbidden', 'Not allowed');
    life.close(refused);
    life.setState('live');
    expect(states).toEqual([
      ['connecting', undefined],
      ['live', undefined],
      ['connecting', 'network'],
      ['closed', 'forbidden'],
    ]);
    expect(life.state).toBe('closed');
  });

  it('closes once, running onClose before closed is told', () => {
    const order: string[] = [];
    const life = new SubscriptionLifecycle(
      { onStateChange: (state) => void order.push(state) },
      (error) => void order.push(`onClose ${String(error?.code)}`),
    );
    life.close();
    life.close(new SyncError('network', 'later'));
    expect(order).toEqual(['onClose undefined', 'closed']);
    expect(life.closed).toBe(true);
    expect(life.signal.reason).toMatchObject({ code: 'closed' });
  });

  it("closes when the caller's signal fires, and releases its listener on close", async () => {
    const caller = new AbortController();
    const { states, onStateChange } = recorder();
    const life = new SubscriptionLifecycle({ signal: caller.signal, onStateChange }, () => undefined);
    life.start(() => life.setState('connecting'));
    await Promise.resolve();
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(1);
    caller.abort(new Error('unmounted'));
    expect(life.closed).toBe(true);
    expect(states).toEqual([
      ['connecting', undefined],
      ['closed', undefined],
    ]);

    const other = new AbortController();
    const closedByCaller = new SubscriptionLifecycle({ signal: other.signal }, () => undefined);
    closedByCaller.start(() => undefined);
    closedByCaller.close();
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it("closes at once, without running, when the caller's signal has fired already", async () => {
    const caller = new AbortController();
    caller.abort(new Error('unmounted'));
    const { states, onStateChange } = recorder();
    const onClose = vi.fn();
    const life = new SubscriptionLifecycle({ signal: caller.signal, onStateChange }, onClose);
    const run = vi.fn();
    life.start(run);
    expect(life.closed).toBe(true);
    expect(onClose).toHaveBeenCalledOnce();
    expect(states).toEqual([['closed', undefined]]);
    await Promise.resolve();
    expect(run).not.toHaveBeenCalled();
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
  });

  it('tells closed even when onClose throws', () => {
    const { states, onStateChange } = recorder();
    const broken = new Error('a broken release');
    const life = new SubscriptionLifecycle({ onStateChange }, () => {
      throw broken;
    });
    expect(() => life.close(new SyncError('forbidden', 'Not allowed'))).toThrow(broken);
    expect(life.closed).toBe(true);
    expect(life.state).toBe('closed');
    expect(states).toEqual([['closed', 'forbidden']]);
    expect(() => life.close()).not.toThrow();
  });

  it('keeps going when onStateChange throws', () => {
    const onClose = vi.fn();
    const life = new SubscriptionLifecycle(
      {
        onStateChange: () => {
          throw new Error('a broken listener');
        },
      },
      onClose,
    );
    expect(() => life.setState('live')).not.toThrow();
    expect(() => life.close()).not.toThrow();
    expect(onClose).toHaveBeenCalledOnce();
  });

  it('sleeps the given time, or less when closed meanwhile', async () => {
    vi.useFakeTimers();
    const life = new SubscriptionLifecycle({}, () => undefined);
    let woke = false;
    const sleeping = life.sleep(1000).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(woke).toBe(true);

    const cut = life.sleep(60_000);
    life.close();
    await cut;
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(life.signal, 'abort')).toHaveLength(0);
    await life.sleep(60_000);
  });

  it('sleeps longer than a timer can wait, rather than waking at once', async () => {
    // Real timers: Node turns a delay past 2^31 - 1 ms into 1 ms.
    const life = new SubscriptionLifecycle({}, () => undefined);
    let woke = 0;
    const far = life.sleep(30 * 24 * 60 * 60 * 1000).then(() => woke++); // a Retry-After of 30 days
    const forever = life.sleep(Infinity).then(() => woke++); // retry.maxDelayMs: Infinity
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(woke).toBe(0);
    life.close();
    await Promise.all([far, forever]);
    expect(woke).toBe(2);
  });

  it('wakes when a sleep longer than a timer can wait is over', async () => {
    vi.useFakeTimers();
    const life = new SubscriptionLifecycle({}, () => undefined);
    const ms = 2 ** 31 + 1000;
    let woke = false;
    const sleeping = life.sleep(ms).then(() => (woke = true));
    await vi.advanceTimersByTimeAsync(ms - 1);
    expect(woke).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await sleeping;
    expect(woke).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    life.close();
  });
});
