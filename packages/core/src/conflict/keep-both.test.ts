import { makeConflict, TestEvents } from '@eventsync/testkit';
import { describe, expect, it } from 'vitest';
import type { ConflictResolver, ResolveContext, ResolvedConflict } from './conflict.js';
import { keepBoth } from './keep-both.js';
import { remoteWins } from './remote-wins.js';

const phone = new TestEvents({ clientId: 'phone' });
const laptop = new TestEvents({ clientId: 'laptop' });

const context: ResolveContext = {
  createEvent: () => {
    throw new Error('keepBoth makes no events');
  },
};

const added = (events: TestEvents, sku: string) => events.make('cart-1', { type: 'cart.item_added', data: { sku } });

describe('keepBoth', () => {
  it('keeps the local events and lets both sides stand', () => {
    const local = [added(phone, 'milk'), added(phone, 'eggs')];
    const remote = [added(laptop, 'bread')];
    const result = keepBoth().resolve(makeConflict(local, remote), context) as ResolvedConflict;
    expect(result.decision).toBe('keep_both');
    expect(result.resolvedEvents).toEqual(local);
    expect(result.reasons).toEqual([
      `cart.item_added events commute: 2 local events (${local[0]!.id}, ${local[1]!.id}) pushed again after 1 remote event (${remote[0]!.id})`,
    ]);
  });

  it('keeps both when every event is of a listed type', () => {
    const local = [added(phone, 'milk')];
    const remote = [laptop.make('cart-1', { type: 'cart.item_removed', data: { sku: 'milk' } })];
    const resolver = keepBoth({ types: ['cart.item_added', 'cart.item_removed'], fallback: remoteWins() });
    const result = resolver.resolve(makeConflict(local, remote), context) as ResolvedConflict;
    expect(result.decision).toBe('keep_both');
    expect(result.reasons[0]).toMatch(/^cart\.item_added, cart\.item_removed events commute/);
  });

  it.each(['local', 'remote'] as const)(
    'hands the conflict to the fallback when a %s event is of another type',
    (side) => {
      const other = (side === 'local' ? phone : laptop).make('cart-1', { type: 'cart.checked_out', data: {} });
      const local = side === 'local' ? [added(phone, 'milk'), other] : [added(phone, 'milk')];
      const remote = side === 'remote' ? [other] : [added(laptop, 'bread')];
      const resolver = keepBoth({ types: ['cart.item_added'], fallback: remoteWins() });
      const result = resolver.resolve(makeConflict(local, remote), context) as ResolvedConflict;
      expect(result.decision).toBe('keep_remote');
      expect(result.resolvedEvents).toEqual([]);
      expect(result.reasons[0]).toBe(
        `${side} event ${other.id} at ${other.metadata.timestamp} is of type "cart.checked_out", which keepBoth does not keep both of (cart.item_added); the fallback decides`,
      );
      expect(result.reasons[1]).toMatch(/^fallback: remote wins: /);
    },
  );

  it('defaults its fallback to lastWriteWins', () => {
    const local = [phone.make('cart-1', { type: 'cart.checked_out', data: {} })];
    const remote = [added(laptop, 'bread')];
    const result = keepBoth({ types: ['cart.item_added'] }).resolve(
      makeConflict(local, remote),
      context,
    ) as ResolvedConflict;
    expect(['keep_local', 'keep_remote']).toContain(result.decision);
    expect(result.reasons[1]).toMatch(/^fallback: (local|remote) event .* is later than /);
  });

  it('awaits a fallback that answers asynchronously', async () => {
    const fallback: ConflictResolver = {
      resolve: async () => ({ resolvedEvents: [], decision: 'park', reasons: ['later'] }),
    };
    const local = [phone.make('cart-1', { type: 'cart.checked_out', data: {} })];
    const result = await keepBoth({ types: ['cart.item_added'], fallback }).resolve(
      makeConflict(local, [added(laptop, 'bread')]),
      context,
    );
    expect(result.decision).toBe('park');
    expect(result.reasons[1]).toBe('fallback: later');
  });

  it('refuses malformed options', () => {
    expect(() => keepBoth({ types: [] })).toThrow(/options.types must be a non-empty array/);
    expect(() => keepBoth({ types: [''] })).toThrow(/options.types\[0\] must be a non-empty string/);
    expect(() => keepBoth({ types: 'cart.item_added' as never })).toThrow(/options.types must be a non-empty array/);
    expect(() => keepBoth({ fallback: 'lastWriteWins' as never })).toThrow(
      /options.fallback must be a conflict resolver/,
    );
  });
});
