/**
 * CPU time of processes from /proc (Linux), for the benches' "CPU per message" figures, which a
 * machine shared with other work distorts far less than throughput. Times are user+system in ms,
 * cumulative since each process started, all threads included; the clock tick is 100 Hz (10 ms
 * per process per read), so divide differences by many messages.
 * - processCpuMs(pid): one process (its own time, not its children's);
 * - groupCpuMs(pgid): every live process of a process group plus what its leader reaped
 *   (cutime/cstime: a Postfix master's smtpd that exited after max_use);
 * - childrenCpuMs(): what this process reaped from its children (smtp-source).
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10;

/** utime, stime, cutime, cstime and pgrp of a process, in ticks; null once it is gone. */
export function procStat(pid: number | string): { self: number; children: number; pgrp: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      pgrp: Number(f[2]),
      self: Number(f[11]) + Number(f[12]),
      children: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return null;
  }
}

export function processCpuMs(pid: number): number {
  return (procStat(pid)?.self ?? 0) * TICK_MS;
}

export function groupCpuMs(pgid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = procStat(entry);
    if (!s || s.pgrp !== pgid) continue;
    total += s.self;
    if (Number(entry) === pgid) total += s.children;
  }
  return total * TICK_MS;
}

export function childrenCpuMs(): number {
  return (procStat(process.pid)?.children ?? 0) * TICK_MS;
}

/** Busy time of the whole machine (all CPUs; everything but idle and iowait), in ms. */
export function machineBusyMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  return (cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!) * TICK_MS;
}
