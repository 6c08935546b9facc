// @eventsync/cli: the `eventsync` command. `main` runs it in-process (tests, embedding);
// the executable is dist/main.js.

export { main } from './cli.js';
export type { CliIo } from './cli.js';
export { parseServeArgs, DEFAULT_SERVE_ARGS, SERVE_USAGE, UsageError } from './serve-args.js';
export type { ServeArgs } from './serve-args.js';
