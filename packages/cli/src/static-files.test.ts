import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type * as Path from 'node:path';
import { join, relative } from 'node:path';
import { isSyncError } from '@eventsync/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { staticFiles } from './static-files.js';

// `relative` answers an absolute path for a file on another drive on Windows: the tests make it do so here.
vi.mock('node:path', async (importOriginal) => {
  const actual = await importOriginal<typeof Path>();
  return { ...actual, relative: vi.fn((from: string, to: string) => actual.relative(from, to)) };
});

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

  it('refuses a symbolic link to a path that relative() answers as absolute (another drive)', async () => {
    symlinkSync(join(folder, 'secret.txt'), join(app, 'link.txt'));
    const secret = realpathSync(join(folder, 'secret.txt'));
    const actual = await vi.importActual<typeof Path>('node:path');
    vi.mocked(relative).mockImplementation((from, to) => (to === secret ? secret : actual.relative(from, to)));
    try {
      const answer = staticFiles(app).answer(get('/link.txt'))!;
      expect(answer.status).toBe(404);
      expect(await answer.text()).not.toContain('not for the web');
    } finally {
      vi.mocked(relative).mockReset();
    }
  });

  it('never serves dotfiles or what is under a dot-folder, except under .well-known', async () => {
    writeFileSync(join(app, '.env'), 'SECRET=1');
    mkdirSync(join(app, '.git'));
    writeFileSync(join(app, '.git', 'config'), '[core]');
    mkdirSync(join(app, 'assets', '.cache'));
    writeFileSync(join(app, 'assets', '.cache', 'data.js'), 'cached');
    mkdirSync(join(app, '.well-known'));
    writeFileSync(join(app, '.well-known', 'security.txt'), 'Contact: mailto:security@example.com');
    writeFileSync(join(app, '.well-known', '.hidden'), 'hidden');
    symlinkSync(join(app, '.env'), join(app, 'env.txt'));
    const files = staticFiles(app);
    for (const path of [
      '/.env',
      '/%2eenv',
      '/.git/config',
      '/.git/',
      '/.git',
      '/assets/.cache/data.js',
      '/.well-known/.hidden',
      '/env.txt',
    ]) {
      const answer = files.answer(get(path));
      expect(answer?.status, path).toBe(404);
      expect(answer ? await answer.text() : '', path).not.toMatch(/SECRET|core|cached|hidden|<title>/);
    }
    const wellKnown = files.answer(get('/.well-known/security.txt'))!;
    expect(wellKnown.status).toBe(200);
    expect(await wellKnown.text()).toBe('Contact: mailto:security@example.com');
  });

  it('answers 304 to an If-None-Match list or * that matches by weak comparison', () => {
    const files = staticFiles(app);
    const etag = files.answer(get('/sw.js', { method: 'HEAD' }))!.headers.get('ETag')!;
    expect(etag).toMatch(/^W\/".+"$/);
    const strong = etag.slice(2);
    const status = (ifNoneMatch: string) =>
      files.answer(get('/sw.js', { headers: { 'If-None-Match': ifNoneMatch } }))!.status;
    expect(status('*')).toBe(304);
    expect(status(`"other", ${etag}`)).toBe(304);
    expect(status(`W/"a,b",${etag} , "c"`)).toBe(304);
    expect(status(strong)).toBe(304);
    expect(status(`"x", ${strong}`)).toBe(304);
    expect(status('"other", W/"another"')).toBe(200);
    expect(status(`W/"0-0", "0-0"`)).toBe(200);
    expect(status('')).toBe(200);
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
