import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../../', import.meta.url));

interface Esbuild {
  build(options: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
}

/**
 * esbuild, which is not a dependency of ours but comes with tsx (and vite): imported directly where it
 * resolves, else through tsx's own dependencies.
 */
async function loadEsbuild(): Promise<Esbuild> {
  // A variable, so TypeScript does not look for esbuild's types at compile time.
  const name = 'esbuild';
  try {
    return (await import(name)) as Esbuild;
  } catch {
    const fromTsx = createRequire(createRequire(import.meta.url).resolve('tsx/package.json'));
    return fromTsx('esbuild') as Esbuild;
  }
}

/**
 * Bundles `entry` (a TypeScript module) and what it imports into one browser script, with
 * `@eventsync/<name>` taken from `packages/<name>/src`, as the tests see it.
 */
export async function bundle(entry: string): Promise<string> {
  const esbuild = await loadEsbuild();
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'browser',
    target: 'es2022',
    sourcemap: 'inline',
    logLevel: 'silent',
    plugins: [
      {
        name: 'eventsync-sources',
        setup(build: {
          onResolve(options: { filter: RegExp }, callback: (args: { path: string }) => { path: string }): void;
        }) {
          build.onResolve({ filter: /^@eventsync\/[^/]+$/ }, (args) => ({
            path: path.join(root, 'packages', args.path.slice('@eventsync/'.length), 'src', 'index.ts'),
          }));
        },
      },
    ],
  });
  return result.outputFiles[0]!.text;
}
