import { SyncError } from '@eventsync/core';
import { createReadStream, realpathSync, statSync, type Stats } from 'node:fs';
import { extname, isAbsolute, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';

/** Options of {@link staticFiles}. */
export interface StaticFilesOptions {
  /**
   * Answers for paths under these prefixes never come from the folder (they belong to the sync
   * endpoint): a missing file there is a plain 404, never the app's `index.html`.
   *
   * @defaultValue `['/v1/', '/metrics']`
   */
  readonly reserved?: readonly string[];
}

/** A handler of web-standard requests for the files of one folder; see {@link staticFiles}. */
export interface StaticFiles {
  /** The absolute, resolved folder the files come from. */
  readonly root: string;
  /** Answers a GET or HEAD for a file; `undefined` when the request is not for the folder. */
  answer(request: Request): Response | undefined;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves a built web app (a folder such as Vite's `dist`) beside the sync endpoint, so that the app and
 * the endpoint share one origin. GET and HEAD only; a path without a file extension that matches no
 * file is a page of the app and gets `index.html` (client-side routing); `..`, encoded slashes and
 * symbolic links out of the folder are refused, and so are dotfiles and whatever is under a dot-folder
 * (`.env`, `.git/`), except under `.well-known/`. Content-hashed files under `assets/` are cached for a
 * year; everything else (`index.html`, the service worker, the manifest) is revalidated each time, so a
 * new build reaches users on their next visit. `If-None-Match` takes a list of entity tags or `*`, and
 * compares them weakly.
 *
 * @throws SyncError `invalid_input` when `folder` is not a folder holding an `index.html`.
 */
export function staticFiles(folder: string, options: StaticFilesOptions = {}): StaticFiles {
  const reserved = options.reserved ?? ['/v1/', '/metrics'];
  let root: string;
  try {
    root = realpathSync(folder);
  } catch {
    throw new SyncError('invalid_input', `${folder} does not exist; build the app first`, {
      details: { field: 'static' },
    });
  }
  if (!fileStats(join(root, 'index.html'))?.isFile()) {
    throw new SyncError('invalid_input', `${root} has no index.html; give the folder of a built web app`, {
      details: { field: 'static' },
    });
  }

  /**
   * The file a path names; `undefined` when there is none, `null` when the path is malformed, leaves
   * the folder or names a hidden file.
   */
  const resolveFile = (pathname: string): string | undefined | null => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return null;
    }
    if (decoded.includes('\0') || decoded.includes('\\') || /%2f/i.test(pathname)) return null;
    const candidate = join(root, decoded.endsWith('/') ? `${decoded}index.html` : decoded);
    const inside = relative(root, candidate);
    if (outside(inside) || inside.split(sep).includes('..') || hidden(inside)) return null;
    let real: string;
    try {
      real = realpathSync(candidate);
    } catch {
      return undefined;
    }
    const relativeReal = relative(root, real);
    if (outside(relativeReal) || hidden(relativeReal)) return null; // a symbolic link out of the folder, or to a dotfile
    return fileStats(real)?.isFile() ? real : undefined;
  };

  return {
    root,
    answer(request) {
      if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
      const { pathname } = new URL(request.url);
      if (reserved.some((prefix) => pathname === prefix.replace(/\/$/, '') || pathname.startsWith(prefix))) {
        return undefined;
      }
      let file = resolveFile(pathname);
      if (file === null) return notFound();
      if (file === undefined) {
        // A page of the app (no extension): its shell. A missing asset stays a 404.
        if (extname(pathname) !== '') return notFound();
        file = join(root, 'index.html');
      }
      const stats = fileStats(file);
      if (!stats) return notFound();
      const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
      const headers = new Headers({
        'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        'Cache-Control': relative(root, file).startsWith(`assets${sep}`)
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
        ETag: etag,
        'X-Content-Type-Options': 'nosniff',
      });
      if (noneMatch(request.headers.get('If-None-Match'), etag)) return new Response(null, { status: 304, headers });
      headers.set('Content-Length', String(stats.size));
      if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
      const body = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
      return new Response(body, { status: 200, headers });
    },
  };
}

/**
 * Whether a path relative to the folder leaves it: it starts with `..`, or it is absolute (what
 * `relative` answers for a path on another drive, on Windows).
 */
function outside(path: string): boolean {
  return path.startsWith('..') || isAbsolute(path);
}

/** Whether a path relative to the folder is a dotfile or under a dot-folder, other than `.well-known/`. */
function hidden(path: string): boolean {
  return path.split(sep).some((name, i) => name.startsWith('.') && !(i === 0 && name === '.well-known'));
}

/**
 * Whether an `If-None-Match` header matches `etag`: `*`, or a list of entity tags one of which is
 * `etag` by weak comparison (RFC 9110, section 13.1.2: `W/` ignored on both sides).
 */
function noneMatch(header: string | null, etag: string): boolean {
  if (header === null) return false;
  const opaque = etag.replace(/^W\//, '');
  for (const [tag] of header.matchAll(/\*|(?:W\/)?"[^"]*"/g)) {
    if (tag === '*' || tag.replace(/^W\//, '') === opaque) return true;
  }
  return false;
}

function notFound(): Response {
  return new Response('Not found\n', { status: 404, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
}

function fileStats(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
