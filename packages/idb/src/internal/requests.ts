/**
 * Lets a request's promise go without awaiting it: a write inside a transaction whose failure, if any,
 * fails the transaction, and so surfaces through `tx.done`. Without this, its rejection would also be
 * reported as unhandled.
 */
export function settled(request: Promise<unknown>): void {
  request.catch(() => {});
}
