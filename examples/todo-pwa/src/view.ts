/**
 * The page: the list (kept current by the projection's watch, one row at a time), the status bar, the
 * conflict inbox and the settings. Plain DOM; every change goes through `SyncManager.append`.
 */
import { isSyncError, type Change, type ConflictRecord, type SyncStatus } from '@eventsync/core';
import { saveToken, STRATEGIES, type Strategy } from './settings.js';
import type { TodoSync } from './sync.js';
import { compareTodos, summarizeConflict, todoEvents, TODOS, type Todo } from './todos.js';

const $ = <T extends HTMLElement>(selector: string): T => {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`The page has no ${selector}`);
  return element;
};

const time = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });

/** Wires the page to the sync; returns the function that stops listening. */
export function mountView(app: TodoSync): () => void {
  const stops: (() => void)[] = [];
  const list = $<HTMLUListElement>('#list');
  const rows = new Map<string, { element: HTMLLIElement; todo: Todo }>();
  /** Todos with changes still in the outbox, and how many events wait there. */
  let unsynced = new Set<string>();
  /** Unknown until the outbox was first read: nothing is said to be saved before that. */
  let pendingCount: number | undefined;

  // ---- Acting: every user action is an event -------------------------------------------------------
  const act = (what: string, action: () => Promise<unknown>): void => {
    action().catch((error: unknown) => showError(`Could not ${what}: ${messageOf(error)}`));
  };

  $<HTMLFormElement>('#new-todo').addEventListener('submit', (submit) => {
    submit.preventDefault();
    const input = $<HTMLInputElement>('#new-title');
    let event;
    try {
      event = todoEvents.add(newTodoId(), input.value);
    } catch (error) {
      showError(messageOf(error));
      return;
    }
    input.value = '';
    act('add the todo', () => app.manager.append(event));
  });

  // ---- The list, kept current by the watch --------------------------------------------------------
  const render = (element: HTMLLIElement, todo: Todo): void => {
    element.classList.toggle('done', todo.done);
    const checkbox = element.querySelector<HTMLInputElement>('input[type=checkbox]')!;
    checkbox.checked = todo.done;
    checkbox.setAttribute('aria-label', `Done: ${todo.title}`);
    const title = element.querySelector<HTMLSpanElement>('.title')!;
    title.textContent = todo.title;
    element.querySelector('.edit')!.setAttribute('aria-label', `Edit ${todo.title}`);
    element.querySelector('.delete')!.setAttribute('aria-label', `Delete ${todo.title}`);
  };

  const createRow = (todo: Todo): HTMLLIElement => {
    const element = document.createElement('li');
    element.className = 'todo';
    element.dataset['id'] = todo.id;
    element.innerHTML = `
      <label class="check"><input type="checkbox" /><span class="box" aria-hidden="true"></span></label>
      <span class="title"></span>
      <span class="sync-mark" title="Not on the server yet" aria-label="not synced yet"></span>
      <button type="button" class="icon edit" title="Edit">✎</button>
      <button type="button" class="icon delete" title="Delete">✕</button>`;
    element.querySelector<HTMLInputElement>('input')!.addEventListener('change', (change) => {
      const done = (change.target as HTMLInputElement).checked;
      act('mark the todo', () => app.manager.append(todoEvents.complete(todo.id, done)));
    });
    element.querySelector('.edit')!.addEventListener('click', () => startEditing(todo.id));
    element.querySelector('.title')!.addEventListener('dblclick', () => startEditing(todo.id));
    element.querySelector('.delete')!.addEventListener('click', () => {
      act('delete the todo', () => app.manager.append(todoEvents.remove(todo.id)));
    });
    render(element, todo);
    return element;
  };

  const startEditing = (id: string): void => {
    const row = rows.get(id);
    if (!row || row.element.querySelector('.editor')) return;
    const editor = document.createElement('input');
    editor.className = 'editor';
    editor.value = row.todo.title;
    editor.setAttribute('aria-label', `New title for ${row.todo.title}`);
    const title = row.element.querySelector<HTMLSpanElement>('.title')!;
    title.hidden = true;
    title.after(editor);
    editor.focus();
    editor.select();
    let finished = false;
    const finish = (save: boolean): void => {
      if (finished) return;
      finished = true;
      editor.remove();
      title.hidden = false;
      const current = rows.get(id)?.todo;
      if (!save || !current || editor.value.trim() === current.title) return;
      let event;
      try {
        event = todoEvents.rename(id, editor.value);
      } catch (error) {
        showError(messageOf(error));
        return;
      }
      act('rename the todo', () => app.manager.append(event));
    };
    editor.addEventListener('keydown', (key) => {
      if (key.key === 'Enter') finish(true);
      else if (key.key === 'Escape') finish(false);
    });
    editor.addEventListener('blur', () => finish(true));
  };

  const place = (element: HTMLLIElement, todo: Todo): void => {
    // Rows are few and kept in order: the first row that sorts after this one is where it goes.
    const after = [...rows.values()].filter((row) => row.element !== element && compareTodos(row.todo, todo) > 0);
    after.sort((a, b) => compareTodos(a.todo, b.todo));
    list.insertBefore(element, after[0]?.element ?? null);
  };

  const apply = (change: Change<Todo>): void => {
    if (change.type === 'delete') {
      rows.get(change.key)?.element.remove();
      rows.delete(change.key);
    } else {
      const existing = rows.get(change.key);
      if (existing) {
        existing.todo = change.value;
        render(existing.element, change.value);
      } else {
        const element = createRow(change.value);
        element.classList.toggle('unsynced', unsynced.has(change.key));
        rows.set(change.key, { element, todo: change.value });
        place(element, change.value);
      }
    }
    const open = [...rows.values()].filter((row) => !row.todo.done).length;
    $('#empty').hidden = rows.size > 0;
    $('#count').textContent = rows.size === 0 ? '' : `${open} left of ${rows.size}`;
  };
  // Replay the current list, then every committed change after it: nothing missed, nothing twice.
  stops.push(app.todos.onChange(apply, { kind: TODOS, replay: true }));

  // ---- Status bar ---------------------------------------------------------------------------------
  const status = $('#status');
  const renderStatus = (current: SyncStatus): void => {
    const online = current.online;
    status.dataset['state'] = !online ? 'offline' : current.lastError ? 'error' : current.syncing ? 'syncing' : 'idle';
    $('#status-network').textContent = online ? 'Online' : 'Offline';
    $('#status-pending').textContent =
      pendingCount === undefined ? '' : pendingCount === 0 ? 'all saved' : `${pendingCount} pending`;
    $('#status-synced').textContent = !app.leader.isLeader
      ? 'another tab syncs'
      : current.lastSyncAt === undefined
        ? 'not synced yet'
        : `synced ${time.format(current.lastSyncAt)}`;
    $('#status-live').textContent = online && current.live === 'live' ? 'live' : '';
    const error = current.lastError;
    $('#status-error').textContent = error && online ? describeSyncError(error) : '';
    $('#connect').hidden = !(error && isSyncError(error, 'unauthorized'));
  };
  renderStatus(app.manager.status);
  stops.push(app.manager.on('status.changed', () => renderStatus(app.manager.status)));

  // The outbox, read from the store: the pending count and the rows with changes not yet on the
  // server. From the store rather than the manager's status, because in a tab that does not lead,
  // another tab's manager sends them; on every change of the outbox, by this tab or another. Reads
  // may overlap: only the latest one's answer is shown.
  let outboxReads = 0;
  const readOutbox = (): void =>
    act('read the outbox', async () => {
      const read = ++outboxReads;
      const pending = await app.store.pending();
      if (read !== outboxReads) return;
      pendingCount = pending.length;
      unsynced = new Set(pending.map((entry) => entry.event.aggregateId));
      for (const [id, row] of rows) row.element.classList.toggle('unsynced', unsynced.has(id));
      renderStatus(app.manager.status);
    });
  stops.push(app.store.subscribe((change) => change.outbox && readOutbox()));
  readOutbox();
  stops.push(app.leader.subscribe(() => renderStatus(app.manager.status)));
  $<HTMLButtonElement>('#sync-now').addEventListener('click', () => act('sync', () => app.manager.sync()));

  $<HTMLFormElement>('#connect').addEventListener('submit', (submit) => {
    submit.preventDefault();
    const input = $<HTMLInputElement>('#token');
    if (input.value.trim() === '') return;
    saveToken(input.value.trim());
    input.value = '';
    act('sync', () => app.manager.sync());
  });

  // ---- Conflict inbox -----------------------------------------------------------------------------
  const inbox = $<HTMLElement>('#inbox');
  const renderInbox = (records: readonly ConflictRecord[]): void => {
    const items = $<HTMLUListElement>('#conflicts');
    items.replaceChildren(
      ...records.map((record) => {
        const summary = summarizeConflict(record);
        const current = rows.get(summary.todoId)?.todo.title;
        const item = document.createElement('li');
        item.className = 'conflict';
        item.dataset['id'] = record.id;
        const heading = document.createElement('p');
        heading.className = 'subject';
        heading.textContent = current === undefined ? 'A deleted todo' : `“${current}”`;
        const mine = document.createElement('p');
        mine.textContent = `You ${summary.mine.join(', then ')}.`;
        const theirs = document.createElement('p');
        theirs.textContent = `Another device ${summary.theirs.join(', then ')}.`;
        const keepMine = button('Keep mine', () => resolve(record.id, 'keep_local'));
        const keepTheirs = button('Keep theirs', () => resolve(record.id, 'keep_remote'));
        const actions = document.createElement('div');
        actions.className = 'actions';
        actions.append(keepMine, keepTheirs);
        item.append(heading, mine, theirs, actions);
        return item;
      }),
    );
    inbox.hidden = records.length === 0;
    $('#conflict-count').textContent = String(records.length);
  };
  const refreshInbox = (): void =>
    act('read the conflicts', async () => renderInbox(await app.manager.conflicts({ status: 'open' })));
  const resolve = (id: string, choice: 'keep_local' | 'keep_remote'): void =>
    act('resolve the conflict', async () => {
      await app.manager.resolveConflict(id, choice);
      refreshInbox();
    });
  refreshInbox();
  stops.push(
    app.manager.on('conflict.resolved', ({ record }) =>
      console.info(`conflict on ${record.conflict.aggregateId}: ${record.resolution?.decision ?? '?'}`),
    ),
  );
  // `status.parked` counts the open conflicts: it changes once a parked conflict is stored (the
  // `conflict.detected` event comes earlier, while the resolver decides) and once one is resolved.
  let parked = app.manager.status.parked;
  stops.push(
    app.manager.on('status.changed', () => {
      if (app.manager.status.parked === parked) return;
      parked = app.manager.status.parked;
      refreshInbox();
    }),
  );
  // Another tab may park or resolve conflicts too.
  stops.push(app.store.subscribe((change) => change.origin === 'remote' && change.records && refreshInbox()));

  // ---- Settings -----------------------------------------------------------------------------------
  const strategy = $<HTMLSelectElement>('#strategy');
  strategy.replaceChildren(
    ...Object.entries(STRATEGIES).map(([value, label]) => new Option(label, value, false, value === app.strategy)),
  );
  strategy.addEventListener('change', () => {
    app.strategy = strategy.value as Strategy;
  });
  $('#device').textContent = app.store.clientId.slice(-6);

  return () => {
    for (const stop of stops) stop();
  };
}

/**
 * A new todo's id: 128 random bits in hex. `crypto.getRandomValues` works on plain-HTTP origins too
 * (a phone opening the app by the computer's LAN address), where `crypto.randomUUID` does not exist.
 */
function newTodoId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

function button(label: string, onClick: () => void): HTMLButtonElement {
  const element = document.createElement('button');
  element.type = 'button';
  element.textContent = label;
  element.addEventListener('click', onClick);
  return element;
}

let errorTimer: ReturnType<typeof setTimeout> | undefined;
function showError(message: string): void {
  const toast = document.querySelector<HTMLElement>('#toast');
  if (!toast) return;
  toast.textContent = message;
  toast.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => (toast.hidden = true), 5_000);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describeSyncError(error: Error): string {
  if (isSyncError(error, 'unauthorized')) return 'The server wants a token';
  if (isSyncError(error, 'forbidden')) return 'This token may not sync this list';
  if (isSyncError(error, 'network') || isSyncError(error, 'timeout') || isSyncError(error, 'unavailable')) {
    return 'The server is out of reach; retrying';
  }
  return error.message;
}
