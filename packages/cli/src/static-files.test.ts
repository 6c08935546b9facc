import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSyncError } from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { staticFiles } from './static-files.js';

let folder: string;
let app: string;

beforeEach(() => {
  folder = mkdtempSync(join(tmpdir(), 'eventsync-static-'));
  app = join(folder, 'dist');
  mkdirSync(join(app, 'assets'), { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><title>app</title>');
  writeFileSync(join(app, 'sw.js'), 'self.skipWaiting()');
  writeFileSync(join(app, 'manifest.webmanifest'), '{"name":"app"}');
  writeFileSync(join(app, 'assets', 'index-abc123.js'), 'console.log(1)');
  writeFileSync(join(folder, 'secret.txt'), 'not for the web');
});

afterEach(() => rmSync(folder, { recursive: true, force: true }));

const get = (path: string, init?: RequestInit) => new Request(`http://127.0.0.1:8787${path}`, init);

describe('staticFiles', () => {
  it('serves the files of the folder with their types and cache rules', async () => {
    const files = staticFiles(app);
    const page = files.answer(get('/'))!;
    expect(page.status).toBe(200);
    expect(page.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('Cache-Control')).toBe('no-cache');
    expect(await page.text()).toContain('<title>app</title>');

    const script = files.answer(get('/assets/index-abc123.js'))!;
    expect(script.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
    expect(script.headers.get('Cache-Control')).toBe('public, max-age=31536000, immutable');
    expect(await script.text()).toBe('console.log(1)');

    expect(files.answer(get('/sw.js'))!.headers.get('Cache-Control')).toBe('no-cache');
    expect(files.answer(get('/manifest.webmanifest'))!.headers.get('Content-Type')).toBe(
      'application/manifest+json; charset=utf-8',
    );
  });

  it('answers pages of the app with index.html, and a missing asset with 404', async () => {
    const files = staticFiles(app);
    expect(await files.answer(get('/todos/42'))!.text()).toContain('<title>app</title>');
    expect(files.answer(get('/assets/missing.js'))!.status).toBe(404);
  });

  it('leaves the endpoint paths and other methods to the sync handler', () => {
    const files = staticFiles(app);
    expect(files.answer(get('/v1/events'))).toBeUndefined();
    expect(files.answer(get('/v1'))).toBeUndefined();
    expect(files.answer(get('/metrics'))).toBeUndefined();
    expect(files.answer(get('/', { method: 'POST', body: 'x' }))).toBeUndefined();
  });

  it('never serves anything outside the folder', async () => {
    symlinkSync(join(folder, 'secret.txt'), join(app, 'link.txt'));
    const files = staticFiles(app);
    for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/link.txt', '/%00']) {
      const answer = files.answer(get(path));
      const text = answer ? await answer.text() : '';
      expect(text, path).not.toContain('not for the web');
      expect(answer?.status, path).toBe(404);
    }
  });

  it('answers HEAD without a body and a matching If-None-Match with 304', async () => {
    const files = staticFiles(app);
    const head = files.answer(get('/sw.js', { method: 'HEAD' }))!;
    expect(head.status).toBe(200);
    expect(head.headers.get('Content-Length')).toBe(String('self.skipWaiting()'.length));
    expect(await head.text()).toBe('');
    const etag = head.headers.get('ETag')!;
    expect(files.answer(get('/sw.js', { headers: { 'If-None-Match': etag } }))!.status).toBe(304);
  });

  it('refuses a folder that does not exist or holds no index.html', () => {
    for (const path of [join(folder, 'nope'), join(app, 'assets')]) {
      let caught: unknown;
      try {
        staticFiles(path);
      } catch (error) {
        caught = error;
      }
      expect(isSyncError(caught, 'invalid_input'), path).toBe(true);
    }
  });
});
