import type { BenchmarkResult, SideResult } from './harness.js';

/** A benchmark's result as a small table: both sides' rates, their metrics, and the ratio. */
export function formatResult(result: BenchmarkResult): string {
  const metricNames = [...new Set([...Object.keys(result.baseline.metrics), ...Object.keys(result.subject.metrics)])];
  const header = ['', 'side', `median ${result.units}/s`, 'min', 'max', 'median ms', ...metricNames];
  const row = (role: string, side: SideResult): string[] => [
    role,
    side.name,
    formatRate(side.median),
    formatRate(side.min),
    formatRate(side.max),
    formatNumber((result.size / side.median) * 1e3),
    ...metricNames.map((metric) => (metric in side.metrics ? formatNumber(side.metrics[metric] as number) : '–')),
  ];
  const target = result.target
    ? `target ≥ ${result.target.min}: ${result.target.met ? 'pass' : 'MISS'} (${result.target.note})`
    : 'no target';
  return [
    `${result.name}: ${result.description}`,
    `  ${result.size.toLocaleString('en-US')} ${result.units} per sample, ${result.repeat} samples per side (+${result.warmup} warmup), interleaved`,
    ...table([header, row('baseline', result.baseline), row('subject', result.subject)]).map((line) => `  ${line}`),
    `  ratio ${result.ratio.toFixed(2)} (subject / baseline median; higher is better), ${target}`,
  ].join('\n');
}

/** A rate with three significant digits and an SI suffix: `1.23M`, `456k`. */
export function formatRate(rate: number): string {
  if (!Number.isFinite(rate)) return String(rate);
  const [scale, suffix] = rate >= 1e9 ? [1e9, 'G'] : rate >= 1e6 ? [1e6, 'M'] : rate >= 1e3 ? [1e3, 'k'] : [1, ''];
  return `${(rate / scale).toPrecision(3)}${suffix}`;
}

function formatNumber(value: number): string {
  return Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2);
}

// Text columns left-aligned, numeric ones right-aligned.
function table(rows: string[][]): string[] {
  const widths = (rows[0] ?? []).map((_, column) => Math.max(...rows.map((cells) => (cells[column] ?? '').length)));
  return rows.map((cells) =>
    cells
      .map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}
