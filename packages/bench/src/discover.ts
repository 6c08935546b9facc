import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { isBenchmark, type Benchmark } from './harness.js';

/** The files `pnpm bench` runs: every `packages/*\/bench/*.bench.ts` under `root`, in path order. */
export async function findBenchmarkFiles(root: string): Promise<string[]> {
  const packagesDir = path.join(root, 'packages');
  const packages = (await readdir(packagesDir, { withFileTypes: true })).filter((entry) => entry.isDirectory());
  const files: string[] = [];
  for (const { name } of packages.sort((a, b) => a.name.localeCompare(b.name))) {
    const benchDir = path.join(packagesDir, name, 'bench');
    const names = await readdir(benchDir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
      throw error;
    });
    files.push(
      ...names
        .filter((file) => file.endsWith('.bench.ts'))
        .sort()
        .map((file) => path.join(benchDir, file)),
    );
  }
  return files;
}

/**
 * Imports every benchmark file under `root`; each default-exports a benchmark or an array of them.
 *
 * @throws TypeError for a file that exports something else, or two benchmarks with one name.
 */
export async function loadBenchmarks(root: string): Promise<Benchmark[]> {
  const benchmarks: Benchmark[] = [];
  for (const file of await findBenchmarkFiles(root)) {
    const exported: unknown = ((await import(pathToFileURL(file).href)) as { default?: unknown }).default;
    const list: unknown[] = Array.isArray(exported) ? exported : [exported];
    if (list.length === 0 || !list.every(isBenchmark)) {
      throw new TypeError(`${path.relative(root, file)} must default-export defineBenchmark(…) or an array of them`);
    }
    benchmarks.push(...list);
  }
  const names = benchmarks.map(({ name }) => name);
  const duplicate = names.find((name, index) => names.indexOf(name) !== index);
  if (duplicate !== undefined) throw new TypeError(`Two benchmarks are named ${JSON.stringify(duplicate)}`);
  return benchmarks;
}

/** The benchmarks whose name contains one of `filters` (case-insensitive); all of them without filters. */
export function selectBenchmarks(benchmarks: readonly Benchmark[], filters: readonly string[]): Benchmark[] {
  return benchmarks.filter(
    ({ name }) => filters.length === 0 || filters.some((filter) => name.toLowerCase().includes(filter.toLowerCase())),
  );
}
