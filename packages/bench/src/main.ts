// `pnpm bench [filter…] [--quick] [--json] [--strict]`: runs every `packages/*/bench/*.bench.ts`.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadBenchmarks, selectBenchmarks } from './discover.js';
import { runBenchmark, type BenchmarkResult } from './harness.js';
import { describeMachine, formatMachine } from './machine.js';
import { formatResult } from './report.js';

const USAGE = `Usage: pnpm bench [filter…] [--quick] [--json] [--strict]

  filter    run only benchmarks whose name contains one of these (case-insensitive)
  --quick   sizes ÷20, 3 samples: a smoke test, not a measurement
  --json    print only the JSON summary
  --strict  exit 1 when a benchmark misses its target`;

const root = fileURLToPath(new URL('../../../', import.meta.url));
const resultsFile = path.join(root, 'bench-results', 'latest.json');

const { values: flags, positionals: filters } = parseCommandLine();
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
const print = flags.json ? () => {} : (text: string) => console.log(text);

const benchmarks = selectBenchmarks(await loadBenchmarks(root), filters);
if (benchmarks.length === 0) {
  console.error(
    filters.length > 0
      ? `No benchmark matches ${filters.map((filter) => JSON.stringify(filter)).join(' or ')}`
      : 'No benchmark found in packages/*/bench/*.bench.ts',
  );
  process.exit(1);
}

const machine = describeMachine();
const gc = exposeGc();
print(`eventsync benchmarks${flags.quick ? ' (--quick: a smoke test, not a measurement)' : ''}\n`);
print(formatMachine(machine));
if (!gc) print('(no forced GC between samples: heap metrics are rough)');

const results: BenchmarkResult[] = [];
const failures: { name: string; error: string }[] = [];
const skipped: { name: string; reason: string }[] = [];
for (const benchmark of benchmarks) {
  if (benchmark.skip !== undefined) {
    skipped.push({ name: benchmark.name, reason: benchmark.skip });
    print(`\n${benchmark.name}: skipped (${benchmark.skip})`);
    continue;
  }
  try {
    const result = await runBenchmark(benchmark, { quick: flags.quick, ...(gc && { gc }) });
    results.push(result);
    print(`\n${formatResult(result)}`);
  } catch (error) {
    failures.push({ name: benchmark.name, error: String(error) });
    console.error(`\n${benchmark.name}: failed\n`, error);
  }
}

const missed = results.filter((result) => result.target && !result.target.met);
const summary = { machine, quick: flags.quick, filters, results, failures, skipped };
await mkdir(path.dirname(resultsFile), { recursive: true });
await writeFile(resultsFile, `${JSON.stringify(summary, null, 2)}\n`);
if (flags.json) console.log(JSON.stringify(summary, null, 2));
print(
  `\n${results.length} benchmark(s) run, ${skipped.length} skipped, ${failures.length} failed, ${missed.length} missed a target` +
    `${missed.length > 0 && !flags.strict ? ' (not fatal without --strict)' : ''}; ` +
    `wrote ${path.relative(root, resultsFile)}`,
);
if (failures.length > 0 || (flags.strict && missed.length > 0)) process.exitCode = 1;

/** The flags and filters; an unknown flag prints the usage and exits 2 (no stack trace). */
function parseCommandLine() {
  try {
    return parseArgs({
      // `pnpm bench -- --quick` hands the `--` on; drop it so the flags still count as flags.
      args: process.argv.slice(2).filter((arg, index) => !(index === 0 && arg === '--')),
      allowPositionals: true,
      options: {
        quick: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        strict: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
}

/** `global.gc` without `--expose-gc` on the command line, so `pnpm bench` stays a plain `tsx` call. */
function exposeGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as () => void;
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}
