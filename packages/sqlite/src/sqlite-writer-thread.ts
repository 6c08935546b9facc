// The writer thread of a SqliteEventStore (`writer: 'thread'`), started by writer-thread.ts from
// dist/sqlite-writer-thread.js: it opens its own connection to the store's file, runs every append
// of that store, one after another in the order they come, and closes when told to.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { configureConnection } from './connection.js';
import { createAppendTransaction, type AppendTransaction } from './sqlite-append.js';
import { toSyncError } from './sqlite-errors.js';
import {
  toWireError,
  type WireError,
  type WriterReply,
  type WriterRequest,
  type WriterSettings,
} from './writer-messages.js';

if (parentPort === null) throw new Error('sqlite-writer-thread.js runs as a worker thread of SqliteEventStore');
const port = parentPort;
const settings = workerData as WriterSettings;

let db: Database.Database | undefined;
let append: AppendTransaction;
try {
  // The store opened and migrated the file already; this connection takes its settings.
  db = new Database(settings.path, { timeout: settings.busyTimeoutMs, fileMustExist: true });
  configureConnection(db, settings);
  append = createAppendTransaction(db);
  port.on('message', answer);
  post({ type: 'ready' });
} catch (error) {
  if (db?.open) db.close();
  post({ type: 'stopped', error: wire(error, `open ${settings.path} as`, 'storage') });
  port.close();
}

function answer(request: WriterRequest): void {
  if (request.type === 'append') {
    let reply: WriterReply;
    try {
      reply = { type: 'appended', answer: append(request.tenant, request.fields) };
    } catch (error) {
      reply = { type: 'failed', error: wire(error, 'append to') };
    }
    post(reply);
    return;
  }
  let error: WireError | undefined;
  try {
    db!.close();
  } catch (failure) {
    error = wire(failure, 'close');
  }
  post(error === undefined ? { type: 'closed' } : { type: 'closed', error });
  port.close();
}

function wire(error: unknown, action: string, fallback?: 'storage'): WireError {
  return toWireError(toSyncError(error, action, fallback));
}

function post(reply: WriterReply): void {
  try {
    port.postMessage(reply);
  } catch (error) {
    // Details that cannot be cloned: the code and the message still can.
    if (!('error' in reply) || reply.error === undefined) throw error;
    port.postMessage({ ...reply, error: { ...reply.error, details: {} } });
  }
}
