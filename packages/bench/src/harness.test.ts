import { describe, expect, it } from 'vitest';
import { defineBenchmark, runBenchmark, spread } from './harness.js';
import { formatResult } from './report.js';

/** A clock that only moves when told: each sample "takes" exactly what the benchmark scripts. */
function fakeClock() {
  let nanoseconds = 0n;
  return {
    now: () => nanoseconds,
    advance: (ms: number) => {
      nanoseconds += BigInt(ms * 1e6);
    },
  };
}

// Per sample index; sample 0 is the warmup and is discarded.
const BASELINE_MS = [1, 10, 40, 20];
const SUBJECT_MS = [1, 5, 50, 10];

function scriptedBenchmark(clock: ReturnType<typeof fakeClock>, calls: string[]) {
  return defineBenchmark({
    name: 'fake/scripted',
    description: 'durations scripted on a fake clock',
    units: 'events',
    size: 2_000,
    repeat: 5,
    warmup: 2,
    target: { min: 2.5, note: 'out of reach on purpose' },
    setup: (size) => ({ size }),
    teardown: () => {
      calls.push('teardown');
    },
    baseline: {
      name: 'raw',
      setup: ({ sample }) => {
        clock.advance(1_000); // untimed
        return { sample };
      },
      run: ({ sample }) => {
        calls.push(`baseline ${sample}`);
        clock.advance(BASELINE_MS[sample] as number);
      },
    },
    subject: {
      name: 'ours',
      run: async ({ sample }) => {
        calls.push(`subject ${sample}`);
        await Promise.resolve();
        clock.advance(SUBJECT_MS[sample] as number);
      },
      after: ({ sample }) => {
        clock.advance(1_000); // untimed
        return { 'retained MiB': sample };
      },
    },
  });
}

describe('runBenchmark', () => {
  it('computes median, min, max and the ratio from the timed runs only', async () => {
    const clock = fakeClock();
    const calls: string[] = [];
    const result = await runBenchmark(scriptedBenchmark(clock, calls), { quick: true, now: clock.now, gc: () => {} });

    // --quick: size ÷ 20, 3 samples, 1 warmup.
    expect(result).toMatchObject({ size: 100, repeat: 3, warmup: 1 });
    expect(result.baseline).toEqual({
      name: 'raw',
      median: 5_000, // 100 events in 10, 40, 20 ms: 10k, 2.5k, 5k events/s
      min: 2_500,
      max: 10_000,
      samplesMs: [10, 40, 20],
      metrics: {},
    });
    expect(result.subject).toEqual({
      name: 'ours',
      median: 10_000, // 5, 50, 10 ms: 20k, 2k, 10k events/s
      min: 2_000,
      max: 20_000,
      samplesMs: [5, 50, 10],
      metrics: { 'retained MiB': 2 },
    });
    expect(result.ratio).toBe(2);
    expect(result.target).toEqual({ min: 2.5, note: 'out of reach on purpose', met: false });
  });

  it('interleaves the sides in ABBA order and tears down once', async () => {
    const clock = fakeClock();
    const calls: string[] = [];
    await runBenchmark(scriptedBenchmark(clock, calls), { quick: true, now: clock.now, gc: () => {} });
    expect(calls).toEqual([
      'baseline 0',
      'subject 0',
      'subject 1',
      'baseline 1',
      'baseline 2',
      'subject 2',
      'subject 3',
      'baseline 3',
      'teardown',
    ]);
  });

  it('prints the ratio and a missed target without throwing', async () => {
    const clock = fakeClock();
    const result = await runBenchmark(scriptedBenchmark(clock, []), { quick: true, now: clock.now, gc: () => {} });
    const text = formatResult(result);
    expect(text).toContain('ratio 2.00');
    expect(text).toContain('target ≥ 2.5: MISS (out of reach on purpose)');
    expect(text).toMatch(/baseline\s+raw\s+5\.00k\s+2\.50k\s+10\.0k/);
  });

  it('tears down and rethrows when a sample fails its check', async () => {
    const calls: string[] = [];
    const failing = defineBenchmark({
      name: 'fake/failing',
      description: 'after() finds the work undone',
      units: 'events',
      size: 1,
      teardown: () => {
        calls.push('teardown');
      },
      baseline: { name: 'raw', run: () => {} },
      subject: {
        name: 'ours',
        run: () => {},
        after: () => {
          throw new Error('nothing stored');
        },
      },
    });
    await expect(runBenchmark(failing, { gc: () => {} })).rejects.toThrow('nothing stored');
    expect(calls).toEqual(['teardown']);
  });
});

describe('spread', () => {
  it('takes the mean of the middle two for an even count', () => {
    expect(spread([4, 1, 3, 2])).toEqual({ median: 2.5, min: 1, max: 4 });
  });
});

describe('defineBenchmark', () => {
  it('rejects a size that is not a positive integer', () => {
    const side = { name: 'x', run: () => {} };
    expect(() =>
      defineBenchmark({ name: 'bad', description: '', units: 'events', size: 0, baseline: side, subject: side }),
    ).toThrow('size must be a positive integer');
  });
});
