import { SyncError, type SyncErrorCode, type SyncErrorDetails } from '@eventsync/core';
import type { AppendAnswer, BatchFields } from './append-batch.js';
import type { ConnectionSettings } from './connection.js';

/**
 * What the writer thread is started with (its `workerData`): how to open its connection. No event
 * limits: the caller validates every event it sends.
 */
export interface WriterSettings extends ConnectionSettings {
  readonly path: string;
}

/** A message to the writer thread. It answers each in the order it got them. */
export type WriterRequest =
  { readonly type: 'append'; readonly tenant: string; readonly fields: BatchFields } | { readonly type: 'close' };

/** A message from the writer thread. */
export type WriterReply =
  /** The thread's connection is open: appends run as soon as they come. Its first message, unless `stopped`. */
  | { readonly type: 'ready' }
  /** An append committed (or had nothing to write): one result per event sent. */
  | { readonly type: 'appended'; readonly answer: AppendAnswer }
  /** An append failed and committed nothing. */
  | { readonly type: 'failed'; readonly error: WireError }
  /** The connection is closed (or failed to close: `error`); the thread ends. */
  | { readonly type: 'closed'; readonly error?: WireError }
  /** The thread cannot go on (its connection did not open); it ends. */
  | { readonly type: 'stopped'; readonly error: WireError };

/** A `SyncError` as it crosses between threads, with what its cause says. */
export interface WireError {
  readonly code: SyncErrorCode;
  readonly message: string;
  readonly details: SyncErrorDetails;
  readonly retryable: boolean;
  readonly cause?: { readonly name: string; readonly message: string; readonly code?: string; readonly stack?: string };
}

/** A `SyncError` ready to post: its code, message, details, retryability and its cause's name, message, code and stack. */
export function toWireError(error: SyncError): WireError {
  const { cause } = error;
  const code = (cause as { code?: unknown } | null | undefined)?.code;
  return {
    code: error.code,
    message: error.message,
    details: error.details,
    retryable: error.retryable,
    ...(cause instanceof Error && {
      cause: {
        name: cause.name,
        message: cause.message,
        ...(typeof code === 'string' && { code }),
        ...(cause.stack !== undefined && { stack: cause.stack }),
      },
    }),
  };
}

/** The `SyncError` a {@link WireError} was, its cause an `Error` with the original's name, message, code and stack. */
export function fromWireError(wire: WireError): SyncError {
  let cause: Error | undefined;
  if (wire.cause !== undefined) {
    cause = new Error(wire.cause.message);
    cause.name = wire.cause.name;
    if (wire.cause.code !== undefined) Object.assign(cause, { code: wire.cause.code });
    if (wire.cause.stack !== undefined) cause.stack = wire.cause.stack;
  }
  return new SyncError(wire.code, wire.message, { details: wire.details, retryable: wire.retryable, cause });
}
