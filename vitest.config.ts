import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Every test file of the workspace; each project below narrows or reuses this list. */
const testFiles = ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/**/*.test.ts'];
const ignoredFiles = ['**/node_modules/**', '**/dist/**'];

export default defineConfig({
  resolve: {
    // Tests run against the sources, so no build is needed: `@eventsync/<name>` is `packages/<name>/src/index.ts`.
    alias: [{ find: /^@eventsync\/([^/]+)$/, replacement: `${root}packages/$1/src/index.ts` }],
  },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: testFiles,
          exclude: ignoredFiles,
        },
      },
      // A `browser` project goes here, beside `node`: `extends: true`, its own include, and
      // `browser: { enabled: true, provider: playwright({ launchOptions: { executablePath: process.env.EVENTSYNC_CHROMIUM } }), ... }`
      // from `@vitest/browser-playwright`.
    ],
  },
});
