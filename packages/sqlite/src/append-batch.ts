import {
  appendedJson,
  CursorVersion,
  SyncError,
  type AppendResult,
  type CheckedEvents,
  type Event,
  type EventLimits,
} from '@eventsync/core';

/**
 * The valid events of a batch as the writer takes them, in batch order, flat: per event its `id`,
 * `aggregateId`, `type`, `metadata.clientId`, `metadata.baseVersion`, `metadata.tenant` and its JSON
 * (validated, or recorded by the append's `checked`). All the append rules and the insert read; one
 * flat array of strings crosses to a worker thread about five times faster than an object per event.
 */
export type BatchFields = (string | undefined)[];

/** How many entries of {@link BatchFields} each event takes. */
const FIELDS = 7;

/** A batch validated on the caller's thread: what the writer needs, and the invalid events' results. */
export interface PreparedBatch {
  /** How many events the batch had, valid or not. */
  readonly size: number;
  /** The valid events, for the writer. */
  readonly fields: BatchFields;
  /** The result of each invalid event (`rejected`, `invalid_event`), by its index in the batch. */
  readonly invalid: ReadonlyMap<number, AppendResult> | undefined;
}

/**
 * One result as the writer answers it, without the id (the caller has it): an accepted event's
 * version as a bare number (the usual case), anything else as a short tuple.
 */
export type AnsweredResult =
  | number
  | [status: 'duplicate', version: number]
  | [status: 'conflict', latest: number, reason: string]
  | [status: 'rejected', code: Extract<AppendResult, { status: 'rejected' }>['code'], reason: string];

/** The writer's answer to a batch: one result per valid event, in order. */
export type AppendAnswer = AnsweredResult[];

/**
 * Validates a batch as `decideAppend` would (`appendedJson`: an event `checked` covers within `limits`
 * is not validated again) and keeps what the writer needs of each valid event.
 *
 * @throws whatever validation throws that is not a `SyncError` (a bug)
 */
export function prepareBatch(
  events: readonly unknown[],
  limits: EventLimits,
  checked: CheckedEvents | undefined,
): PreparedBatch {
  const fields: BatchFields = [];
  let invalid: Map<number, AppendResult> | undefined;
  for (let index = 0; index < events.length; index++) {
    const candidate = events[index];
    const json = appendedJson(candidate, limits, checked);
    if (typeof json !== 'string') {
      (invalid ??= new Map()).set(index, json);
      continue;
    }
    const { id, aggregateId, type, metadata } = candidate as Event;
    fields.push(id, aggregateId, type, metadata.clientId, metadata.baseVersion, metadata.tenant, json);
  }
  return { size: events.length, fields, invalid };
}

/**
 * The writer's side of {@link prepareBatch}: the events as `decideAppend` reads them (only the fields
 * it reads; the rest is in the JSON) and their JSON, index-aligned.
 */
export function batchEvents(fields: BatchFields): { events: Event[]; json: string[] } {
  const events: Event[] = [];
  const json: string[] = [];
  for (let i = 0; i < fields.length; i += FIELDS) {
    const metadata = { clientId: fields[i + 3], baseVersion: fields[i + 4], tenant: fields[i + 5] };
    events.push({ id: fields[i], aggregateId: fields[i + 1], type: fields[i + 2], metadata } as Event);
    json.push(fields[i + 6]!);
  }
  return { events, json };
}

/** The writer's answer to `decideAppend`'s results. */
export function answerOf(results: readonly AppendResult[]): AppendAnswer {
  return results.map((result): AnsweredResult => {
    switch (result.status) {
      case 'accepted':
        return result.version.value;
      case 'duplicate':
        return ['duplicate', result.version.value];
      case 'conflict':
        return ['conflict', result.latest.value, result.reason];
      case 'rejected':
        return ['rejected', result.code, result.reason];
    }
  });
}

/**
 * The batch's results, in batch order: the writer's answers for the valid events merged with the
 * invalid events' results, each as `decideAppend` makes it; and the latest version accepted (0 for none).
 */
export function appendResults(batch: PreparedBatch, answer: AppendAnswer): { results: AppendResult[]; latest: number } {
  const { fields, invalid } = batch;
  if (answer.length * FIELDS !== fields.length) {
    throw new SyncError(
      'internal',
      `The SQLite writer answered ${answer.length} results for ${fields.length / FIELDS} events`,
    );
  }
  const results: AppendResult[] = [];
  let latest = 0;
  let next = 0;
  for (let index = 0; index < batch.size; index++) {
    const rejected = invalid?.get(index);
    if (rejected !== undefined) {
      results.push(rejected);
      continue;
    }
    const id = fields[next * FIELDS]!;
    const answered = answer[next++]!;
    if (typeof answered === 'number') {
      results.push({ id, status: 'accepted', version: CursorVersion.of(answered) });
      latest = answered;
      continue;
    }
    switch (answered[0]) {
      case 'duplicate':
        results.push({ id, status: 'duplicate', version: CursorVersion.of(answered[1]) });
        break;
      case 'conflict':
        results.push({ id, status: 'conflict', latest: CursorVersion.of(answered[1]), reason: answered[2] });
        break;
      case 'rejected':
        results.push({ id, status: 'rejected', code: answered[1], reason: answered[2] });
        break;
    }
  }
  return { results, latest };
}
