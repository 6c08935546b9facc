import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadBenchmarks, selectBenchmarks } from './discover.js';
import { runBenchmark } from './harness.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const benchmarks = await loadBenchmarks(root);

describe('the benchmarks of `pnpm bench`', () => {
  it('are found, each with a unique name', () => {
    expect(benchmarks.length).toBeGreaterThan(0);
    expect(new Set(benchmarks.map(({ name }) => name)).size).toBe(benchmarks.length);
  });

  // A smoke test, not a measurement: each still runs at --quick size and its `after` checks pass.
  // The clock is a counter, so nothing here depends on how fast the machine is.
  for (const benchmark of benchmarks.filter(({ skip }) => skip !== undefined)) {
    it.skip(`${benchmark.name} runs at --quick size (skipped: ${benchmark.skip})`, () => {});
  }

  const runnable = benchmarks.filter(({ skip }) => skip === undefined);
  it.each(runnable.map((benchmark) => [benchmark.name, benchmark] as const))(
    '%s runs at --quick size',
    async (_name, benchmark) => {
      let tick = 0n;
      const result = await runBenchmark(benchmark, { quick: true, now: () => (tick += 1_000_000n), gc: () => {} });
      expect(result.ratio).toBe(1);
      expect(result.subject.samplesMs).toHaveLength(result.repeat);
    },
    60_000,
  );
});

describe('selectBenchmarks', () => {
  it('keeps the benchmarks whose name contains a filter, ignoring case; all without filters', () => {
    const names = (filters: string[]): string[] => selectBenchmarks(benchmarks, filters).map(({ name }) => name);
    expect(names([])).toEqual(benchmarks.map(({ name }) => name));
    expect(names(['MEMORY-LOG', 'events.create'])).toEqual(
      benchmarks.map(({ name }) => name).filter((name) => /memory-log|events\.create/.test(name)),
    );
    expect(names(['no-such-benchmark'])).toEqual([]);
  });
});
