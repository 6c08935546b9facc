import os from 'node:os';

/** The machine a run happened on, printed first: ratios travel between machines, absolute rates do not. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly date: string;
}

/** Describes this machine. */
export function describeMachine(date: Date = new Date()): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    date: date.toISOString(),
  };
}

/** The machine as a few aligned lines. */
export function formatMachine(machine: Machine): string {
  return [
    `cpu     ${machine.cpu} × ${machine.cores}`,
    `memory  ${machine.memoryGiB} GiB`,
    `os      ${machine.os}`,
    `node    ${machine.node}`,
    `date    ${machine.date}`,
  ].join('\n');
}
