// @ts-check
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    // docs/api/ is the API reference that `pnpm docs:api` generates.
    ignores: ['**/dist/', '**/node_modules/', 'coverage/', '.ci/', '.eventsync-test/', 'bench-results/', 'docs/api/'],
  },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.browser },
      parserOptions: {
        // One program for sources, tests, benchmarks, examples and config files, as `pnpm typecheck` sees them.
        project: ['./tsconfig.check.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // Contract methods are async by signature; in-memory implementations have nothing to await.
      '@typescript-eslint/require-await': 'off',
      // Aborted calls reject with `signal.reason`, whatever the caller put there (STYLE.md).
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Plain JS (config files) is not in the TypeScript program: lint it without type information.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
