import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Every test file of the workspace; each project below narrows or reuses this list. */
const testFiles = ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'examples/*/**/*.test.ts'];
/** The tests that run inside Chromium (vitest browser mode) rather than in Node. */
const browserFiles = ['packages/*/src/**/*.browser.test.ts'];
const ignoredFiles = ['**/node_modules/**', '**/dist/**'];

// Debian's Chromium (`apt-get install chromium`), or the one EVENTSYNC_CHROMIUM names; scripts/test.sh
// sets it when Chromium is there. Locally a missing Chromium skips the browser tests and says so; in CI
// the project runs anyway and fails loudly.
const chromium = process.env.EVENTSYNC_CHROMIUM ?? '/usr/bin/chromium';
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const runBrowser = inCi || existsSync(chromium);
if (!runBrowser) {
  console.warn(
    `browser tests skipped: no Chromium at ${chromium} (apt-get install chromium, or set EVENTSYNC_CHROMIUM)`,
  );
}

/**
 * The browser project's Chromium profile: on disk, so IndexedDB is the real on-disk one; a directory of
 * this run's own (two runs at once cannot share a profile), deleted when the run ends.
 */
function chromiumProfile(): string {
  const profile = mkdtempSync(path.join(tmpdir(), 'eventsync-vitest-chromium-'));
  process.once('exit', () => rmSync(profile, { recursive: true, force: true }));
  return profile;
}

const browser = (): TestProjectInlineConfiguration => ({
  extends: true,
  test: {
    name: 'browser',
    include: browserFiles,
    exclude: ignoredFiles,
    // One Chromium profile for the run (a persistent context cannot serve files in parallel); tests
    // use databases of their own names and delete them.
    fileParallelism: false,
    testTimeout: 30_000,
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({
        launchOptions: {
          executablePath: chromium,
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
        persistentContext: chromiumProfile(),
      }),
      instances: [{ browser: 'chromium' }],
    },
  },
});

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
          exclude: [...ignoredFiles, ...browserFiles],
        },
      },
      ...(runBrowser ? [browser()] : []),
    ],
  },
});
