import { inspect } from 'node:util';

/** What a benchmark counts; throughput is reported in these per second. */
export type BenchmarkUnits = 'events';

/** Extra numbers a sample reports besides its time, e.g. `{ 'retained MiB': 41.2 }`; medians are printed. */
export type SampleMetrics = Readonly<Record<string, number>>;

/** What every hook of a sample receives. */
export interface SampleContext<TFixture> {
  /** The units of work one sample does. */
  readonly size: number;
  /** What the benchmark's `setup` returned. */
  readonly fixture: TFixture;
  /** The sample's index; warmup samples come first and are not counted. */
  readonly sample: number;
  /** The bytes of heap in use, after a full collection when the harness can force one. */
  heapUsed(): number;
}

/** One side of a comparison: the raw baseline or eventsync's path. */
export interface BenchmarkSide<TFixture, TState> {
  readonly name: string;
  /** Untimed, before each sample: fresh state for `run`. */
  setup?(context: SampleContext<TFixture>): TState | Promise<TState>;
  /** Timed: does `size` units of work. */
  run(context: SampleContext<TFixture>, state: TState): void | SampleMetrics | Promise<void | SampleMetrics>;
  /** Untimed, after each sample: check the work was done (throw if not), optionally report metrics. */
  after?(context: SampleContext<TFixture>, state: TState): void | SampleMetrics | Promise<void | SampleMetrics>;
}

/** What {@link defineBenchmark} takes. */
export interface BenchmarkDefinition<TFixture, TBaseline, TSubject> {
  /** Unique, `<package>/<thing>.<operation>`, e.g. `core/memory-log.append`; `pnpm bench <filter>` matches it. */
  readonly name: string;
  readonly description: string;
  readonly units: BenchmarkUnits;
  /** Units of work per sample. `--quick` divides it by 20. */
  readonly size: number;
  /**
   * Counted samples per side.
   *
   * @defaultValue 7 (3 with `--quick`)
   */
  readonly repeat?: number;
  /**
   * Discarded samples per side, run first.
   *
   * @defaultValue 2 (1 with `--quick`)
   */
  readonly warmup?: number;
  /**
   * Why this benchmark cannot run here (e.g. a database it needs is not configured). A skipped
   * benchmark is listed with its reason and measures nothing.
   */
  readonly skip?: string | undefined;
  /** The least acceptable ratio (subject median / baseline median); a miss fails only under `--strict`. */
  readonly target?: { readonly min: number; readonly note: string };
  /** Untimed, once: inputs shared by every sample, e.g. pre-built events. */
  setup?(size: number): TFixture | Promise<TFixture>;
  readonly baseline: BenchmarkSide<TFixture, TBaseline>;
  readonly subject: BenchmarkSide<TFixture, TSubject>;
  /** Once, after the last sample. */
  teardown?(fixture: TFixture): void | Promise<void>;
}

/** A checked benchmark definition, with its defaults filled in. */
export interface Benchmark extends BenchmarkDefinition<unknown, unknown, unknown> {
  readonly repeat: number;
  readonly warmup: number;
}

export const DEFAULT_REPEAT = 7;
export const DEFAULT_WARMUP = 2;
const QUICK = { sizeDivisor: 20, repeat: 3, warmup: 1 };

/**
 * Declares a benchmark: a raw baseline and eventsync's path doing the same `size` units of work.
 * A benchmark file default-exports one, or an array of them.
 *
 * @example
 * ```ts
 * export default defineBenchmark({
 *   name: 'core/ids', description: 'ids', units: 'events', size: 100_000,
 *   baseline: { name: 'counter', run: ({ size }) => { for (let i = 0; i < size; i++) String(i); } },
 *   subject: { name: 'ulid()', run: ({ size }) => { for (let i = 0; i < size; i++) ulid(); } },
 * });
 * ```
 */
export function defineBenchmark<TFixture = undefined, TBaseline = undefined, TSubject = undefined>(
  definition: BenchmarkDefinition<TFixture, TBaseline, TSubject>,
): Benchmark {
  const { name, size, repeat = DEFAULT_REPEAT, warmup = DEFAULT_WARMUP, target } = definition;
  const fail = (why: string): never => {
    throw new TypeError(`Benchmark ${JSON.stringify(name)}: ${why}`);
  };
  if (typeof name !== 'string' || name.trim() === '') fail('name must be a non-empty string');
  if (!Number.isSafeInteger(size) || size < 1) fail(`size must be a positive integer, got ${size}`);
  if (!Number.isSafeInteger(repeat) || repeat < 1) fail(`repeat must be a positive integer, got ${repeat}`);
  if (!Number.isSafeInteger(warmup) || warmup < 0) fail(`warmup must be a non-negative integer, got ${warmup}`);
  if (target && !(target.min > 0)) fail(`target.min must be positive, got ${target.min}`);
  for (const side of [definition.baseline, definition.subject]) {
    if (typeof side?.name !== 'string' || typeof side.run !== 'function')
      fail('baseline and subject need a name and run');
  }
  return { ...definition, repeat, warmup };
}

/** Whether `value` came from {@link defineBenchmark} (or looks just like it). */
export function isBenchmark(value: unknown): value is Benchmark {
  const candidate = value as Partial<Benchmark> | null;
  return (
    typeof candidate?.name === 'string' &&
    typeof candidate.size === 'number' &&
    typeof candidate.baseline?.run === 'function' &&
    typeof candidate.subject?.run === 'function'
  );
}

/** Median, min and max of a set of numbers. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** One side's outcome. Rates are units per second; higher is faster. */
export interface SideResult extends Spread {
  readonly name: string;
  /** Each counted sample's duration, in milliseconds, in run order. */
  readonly samplesMs: readonly number[];
  /** The median of each metric the side reported. */
  readonly metrics: SampleMetrics;
}

/** A benchmark's outcome. */
export interface BenchmarkResult {
  readonly name: string;
  readonly description: string;
  readonly units: BenchmarkUnits;
  readonly size: number;
  readonly repeat: number;
  readonly warmup: number;
  readonly baseline: SideResult;
  readonly subject: SideResult;
  /** `subject.median / baseline.median`: 1 is as fast as the baseline, 0.5 half as fast. */
  readonly ratio: number;
  readonly target?: { readonly min: number; readonly note: string; readonly met: boolean };
}

/** Options of {@link runBenchmark}. */
export interface RunOptions {
  /**
   * Shrinks size, repeat and warmup, for a smoke test.
   *
   * @defaultValue false
   */
  readonly quick?: boolean;
  /**
   * The clock, in nanoseconds.
   *
   * @defaultValue `process.hrtime.bigint`
   */
  readonly now?: () => bigint;
  /**
   * Forces a full garbage collection; called before every sample so one side's garbage is not
   * collected on the other's time.
   *
   * @defaultValue `globalThis.gc` when exposed, else nothing
   */
  readonly gc?: () => void;
}

/**
 * Runs a benchmark: warmup, then samples of both sides interleaved in ABBA order (baseline, subject,
 * subject, baseline, …) so drift and order effects hit both alike.
 */
export async function runBenchmark(benchmark: Benchmark, options: RunOptions = {}): Promise<BenchmarkResult> {
  const { quick = false, now = () => process.hrtime.bigint(), gc = defaultGc() } = options;
  const size = quick ? Math.max(1, Math.ceil(benchmark.size / QUICK.sizeDivisor)) : benchmark.size;
  const repeat = quick ? Math.min(benchmark.repeat, QUICK.repeat) : benchmark.repeat;
  const warmup = quick ? Math.min(benchmark.warmup, QUICK.warmup) : benchmark.warmup;
  const heapUsed = (): number => {
    gc();
    return process.memoryUsage().heapUsed;
  };

  const fixture = await benchmark.setup?.(size);
  const sides = [benchmark.baseline, benchmark.subject];
  const samples = sides.map(() => ({ durations: [] as number[], metrics: [] as SampleMetrics[] }));
  try {
    for (let sample = 0; sample < warmup + repeat; sample++) {
      const order = sample % 2 === 0 ? [0, 1] : [1, 0];
      for (const index of order) {
        const side = sides[index] as BenchmarkSide<unknown, unknown>;
        const measured = await runSample(side, { size, fixture, sample, heapUsed }, now, gc);
        if (sample < warmup) continue;
        const record = samples[index] as (typeof samples)[number];
        record.durations.push(measured.durationNs);
        record.metrics.push(measured.metrics);
      }
    }
  } finally {
    await benchmark.teardown?.(fixture);
  }

  const summarize = (index: number): SideResult => {
    const { durations, metrics } = samples[index] as (typeof samples)[number];
    const rates = durations.map((ns) => size / (Math.max(ns, 1) / 1e9));
    return {
      name: (sides[index] as BenchmarkSide<unknown, unknown>).name,
      ...spread(rates),
      samplesMs: durations.map((ns) => ns / 1e6),
      metrics: medianMetrics(metrics),
    };
  };
  const baseline = summarize(0);
  const subject = summarize(1);
  const ratio = subject.median / baseline.median;
  const { target } = benchmark;
  return {
    name: benchmark.name,
    description: benchmark.description,
    units: benchmark.units,
    size,
    repeat,
    warmup,
    baseline,
    subject,
    ratio,
    ...(target && { target: { ...target, met: ratio >= target.min } }),
  };
}

// A function of its own, so the sample's state dies with its frame: a suspended async loop would keep
// the last state alive in a register and count it in the next sample's heap.
async function runSample(
  side: BenchmarkSide<unknown, unknown>,
  context: SampleContext<unknown>,
  now: () => bigint,
  gc: () => void,
): Promise<{ durationNs: number; metrics: SampleMetrics }> {
  const state = await side.setup?.(context);
  gc();
  const start = now();
  const pending = side.run(context, state);
  const ran = isPromise(pending) ? await pending : pending;
  const end = now();
  const checked = await side.after?.(context, state);
  return {
    durationNs: Number(end - start),
    metrics: { ...metricsOf(side.name, ran), ...metricsOf(side.name, checked) },
  };
}

/** Median (the mean of the middle two for an even count), min and max; `values` must not be empty. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new RangeError('spread of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1
      ? (sorted[middle] as number)
      : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

function medianMetrics(samples: readonly SampleMetrics[]): SampleMetrics {
  const keys = [...new Set(samples.flatMap((sample) => Object.keys(sample)))];
  return Object.fromEntries(
    keys.map((key) => [
      key,
      spread(samples.flatMap((sample) => (key in sample ? [sample[key] as number] : []))).median,
    ]),
  );
}

function metricsOf(side: string, value: unknown): SampleMetrics {
  if (value === undefined) return {};
  if (
    typeof value !== 'object' ||
    value === null ||
    Object.values(value).some((metric) => typeof metric !== 'number')
  ) {
    throw new TypeError(`${side} returned ${inspect(value)}; a sample returns nothing or a record of numbers`);
  }
  return value as SampleMetrics;
}

function isPromise(value: unknown): value is Promise<unknown> {
  return typeof (value as Promise<unknown> | null)?.then === 'function';
}

function defaultGc(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  return typeof gc === 'function' ? gc : () => {};
}
