/**
 * The todo list's domain: the events the app records and the projection that folds them into the list.
 * Nothing here touches the DOM or the network, so it runs (and is tested) in Node as well.
 */
import {
  KeyedProjection,
  type ConflictRecord,
  type Event,
  type EventInput,
  type KeyedReducer,
  type LocalEventStore,
  type SyncManager,
} from '@eventsync/core';

/** A todo as the list shows it. */
export interface Todo {
  readonly id: string;
  readonly title: string;
  readonly done: boolean;
  /** The HLC timestamp of its `todo.added` event: the list's order, the same on every device. */
  readonly createdAt: string;
  /** The client that changed it last. */
  readonly changedBy: string;
}

/** The projection's kind for todos. */
export const TODOS = 'todos';

/** The longest title the app accepts, in characters. */
export const MAX_TITLE_LENGTH = 500;

/** The app's events: what happened to a todo. `aggregateId` is the todo's id. */
export type TodoEvent =
  | { readonly type: 'todo.added'; readonly data: { readonly title: string } }
  | { readonly type: 'todo.renamed'; readonly data: { readonly title: string } }
  | { readonly type: 'todo.completed'; readonly data: { readonly done: boolean } }
  | { readonly type: 'todo.deleted'; readonly data: Readonly<Record<string, never>> };

/** Trims a title and checks it; throws a `RangeError` with a message for the person typing. */
export function cleanTitle(title: string): string {
  const clean = title.replace(/\s+/g, ' ').trim();
  if (clean === '') throw new RangeError('A todo needs a title');
  if (clean.length > MAX_TITLE_LENGTH) throw new RangeError(`A title has at most ${MAX_TITLE_LENGTH} characters`);
  return clean;
}

/** The events a change makes, as inputs for `SyncManager.append`. */
export const todoEvents = {
  add: (id: string, title: string): EventInput => ({
    type: 'todo.added',
    aggregateId: id,
    data: { title: cleanTitle(title) },
  }),
  rename: (id: string, title: string): EventInput => ({
    type: 'todo.renamed',
    aggregateId: id,
    data: { title: cleanTitle(title) },
  }),
  complete: (id: string, done: boolean): EventInput => ({ type: 'todo.completed', aggregateId: id, data: { done } }),
  remove: (id: string): EventInput => ({ type: 'todo.deleted', aggregateId: id, data: {} }),
};

const field = <T>(event: Event, name: string, check: (value: unknown) => value is T): T | undefined => {
  const data = event.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const value = (data as Record<string, unknown>)[name];
  return check(value) ? value : undefined;
};
const isString = (value: unknown): value is string => typeof value === 'string';
const isBoolean = (value: unknown): value is boolean => typeof value === 'boolean';

/**
 * The reducers of the list. Events from other devices are data from elsewhere: a malformed one is
 * skipped rather than trusted, and an edit of a todo that was deleted (or never seen) changes nothing.
 */
export const todoReducers: Readonly<Record<string, KeyedReducer<Todo>>> = {
  'todo.added': (state, event) => {
    const title = field(event, 'title', isString);
    if (title === undefined || state.has(TODOS, event.aggregateId)) return state;
    return state.set(TODOS, event.aggregateId, {
      id: event.aggregateId,
      title,
      done: false,
      createdAt: event.metadata.timestamp,
      changedBy: event.metadata.clientId,
    });
  },
  'todo.renamed': (state, event) => {
    const title = field(event, 'title', isString);
    if (title === undefined) return state;
    return state.update(
      TODOS,
      event.aggregateId,
      (todo) => todo && { ...todo, title, changedBy: event.metadata.clientId },
    );
  },
  'todo.completed': (state, event) => {
    const done = field(event, 'done', isBoolean);
    if (done === undefined) return state;
    return state.update(
      TODOS,
      event.aggregateId,
      (todo) => todo && { ...todo, done, changedBy: event.metadata.clientId },
    );
  },
  'todo.deleted': (state, event) => state.delete(TODOS, event.aggregateId),
};

/** The list's projection over a store, refreshed by the manager's appends, pulls and rebases. */
export function todoProjection(store: LocalEventStore, manager?: SyncManager): KeyedProjection<Todo> {
  return new KeyedProjection<Todo>({ store, ...(manager ? { manager } : {}), reducers: todoReducers });
}

/** Orders todos as the list shows them: by creation, the same on every device. */
export function compareTodos(a: Todo, b: Todo): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** One event in words, for the conflict inbox: "renamed it to “Oat milk”". */
export function describeEvent(event: Event): string {
  switch (event.type) {
    case 'todo.added':
      return `added it as “${field(event, 'title', isString) ?? '?'}”`;
    case 'todo.renamed':
      return `renamed it to “${field(event, 'title', isString) ?? '?'}”`;
    case 'todo.completed':
      return field(event, 'done', isBoolean) ? 'marked it done' : 'marked it not done';
    case 'todo.deleted':
      return 'deleted it';
    default:
      return event.type;
  }
}

/** A parked conflict in words: each side's last change to the todo. */
export interface ConflictSummary {
  readonly id: string;
  readonly todoId: string;
  /** This device's changes, in order. */
  readonly mine: readonly string[];
  /** The changes that reached the server first, in server order. */
  readonly theirs: readonly string[];
}

/** Summarises an inbox record for display. */
export function summarizeConflict(record: ConflictRecord): ConflictSummary {
  return {
    id: record.id,
    todoId: record.conflict.aggregateId,
    mine: record.conflict.local.map(describeEvent),
    theirs: record.conflict.remote.map((versioned) => describeEvent(versioned.event)),
  };
}
