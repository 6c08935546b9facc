// @eventsync/bench: the benchmark harness behind `pnpm bench`.

export { defineBenchmark, isBenchmark, runBenchmark, spread, DEFAULT_REPEAT, DEFAULT_WARMUP } from './harness.js';
export type {
  Benchmark,
  BenchmarkDefinition,
  BenchmarkResult,
  BenchmarkSide,
  BenchmarkUnits,
  RunOptions,
  SampleContext,
  SampleMetrics,
  SideResult,
  Spread,
} from './harness.js';
export { describeMachine, formatMachine } from './machine.js';
export type { Machine } from './machine.js';
export { formatRate, formatResult } from './report.js';
export { benchEvents, batchesOf } from './fixtures.js';
export type { BenchEventsOptions } from './fixtures.js';
