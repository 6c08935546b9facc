/**
 * One message on an `EventBus`, as every subscriber receives it (the same frozen object for all).
 *
 * @example
 * ```ts
 * for await (const envelope of bus.subscribe<{ orderId: string }>('orders.*')) {
 *   console.log(envelope.subject, envelope.payload.orderId, envelope.headers['tenant']);
 * }
 * ```
 */
export interface Envelope<T = unknown> {
  /** Unique per message: a ULID by default (sortable by publish time). */
  readonly id: string;
  /** The dot-separated subject it was published under, e.g. `sync.completed`. */
  readonly subject: string;
  /** What the publisher sent, as is: shared by every subscriber, so treat it as read-only. */
  readonly payload: T;
  /** String metadata (tenant, client id, trace id…); empty when the publisher gave none. */
  readonly headers: Readonly<Record<string, string>>;
  /** When it was published, in milliseconds since the epoch (the bus's `now`). */
  readonly timestamp: number;
}
