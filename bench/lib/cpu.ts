/**
 * Where the CPU went during a benchmark (Linux /proc): each of our processes (dev server, worker,
 * API, this process), and everything else on the machine: other engineers' test runs show up there.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { round } from './stats';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...fields] = line.trim().split(/\s+/);
    const n = fields.map(Number);
    const idle = (n[3] ?? 0) + (n[4] ?? 0); // idle + iowait
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0); // user…steal
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

function processTicks(pid: number, file = `/proc/${pid}/stat`): number | undefined {
  try {
    const stat = readFileSync(file, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime (all threads)
  } catch {
    return undefined;
  }
}

/** CPU ticks per thread of a process, keyed `<name>` (the main thread is `main`). */
function threadTicks(pid: number): Map<string, { name: string; ticks: number }> {
  const out = new Map<string, { name: string; ticks: number }>();
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const ticks = processTicks(Number(tid), `/proc/${pid}/task/${tid}/stat`);
      if (ticks !== undefined) out.set(tid, { name, ticks });
    } catch {
      // the thread ended
    }
  }
  return out;
}

export interface CpuReport {
  seconds: number;
  /** Busy share of the whole machine (all cores), percent. */
  machineBusyPct: number;
  /** CPU seconds used, per process of ours. */
  cpuSeconds: Record<string, number>;
  /** Busy share of the machine used by processes that are not ours, percent. */
  othersPct: number;
  /** CPU seconds by thread name, for the processes asked (`threadsOf`). */
  threads?: Record<string, Record<string, number>>;
}

export function cpuMeter(pids: Record<string, number>, threadsOf: string[] = []): { stop(): CpuReport } {
  const t0 = Date.now();
  const th0 = new Map(threadsOf.map((name) => [name, threadTicks(pids[name] ?? 0)]));
  const m0 = machineTicks();
  const p0 = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, processTicks(pid)]));
  return {
    stop() {
      const seconds = (Date.now() - t0) / 1000;
      const m1 = machineTicks();
      const cpuSeconds: Record<string, number> = {};
      let ours = 0;
      for (const [name, pid] of Object.entries(pids)) {
        const a = p0[name];
        const b = processTicks(pid);
        if (a === undefined || b === undefined) continue;
        cpuSeconds[name] = round((b - a) / TICKS_PER_SECOND, 2);
        ours += b - a;
      }
      const total = m0 && m1 ? m1.total - m0.total : NaN;
      const busy = m0 && m1 ? m1.busy - m0.busy : NaN;
      let threads: CpuReport['threads'];
      for (const [name, before] of th0) {
        const by: Record<string, number> = {};
        for (const [tid, now] of threadTicks(pids[name] ?? 0)) {
          const ticks = now.ticks - (before.get(tid)?.ticks ?? 0);
          if (ticks > 0) by[now.name] = round((by[now.name] ?? 0) + ticks / TICKS_PER_SECOND, 2);
        }
        (threads ??= {})[name] = by;
      }
      return {
        ...(threads ? { threads } : {}),
        seconds: round(seconds, 1),
        machineBusyPct: round((100 * busy) / total, 1),
        cpuSeconds,
        othersPct: round((100 * Math.max(0, busy - ours)) / total, 1),
      };
    },
  };
}

export const coreCount = (): number => cpus().length;
