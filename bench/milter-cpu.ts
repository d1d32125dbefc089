/**
 * CPU accounting for the milter benchmark, from /proc (Linux): where the machine's CPU went
 * during one run, split by who spent it. A snapshot holds cumulative user+system time in ms of
 * - the Postfix instance: every live process of its process group (the master's pid) plus what
 *   the master has reaped (cutime/cstime: smtpd processes that exited after max_use);
 * - the milter process, the smtp-sink process and the bench's own reaped children (smtp-source);
 * - the whole machine (busy = everything but idle and iowait, over all CPUs), which also counts
 *   whatever else runs on the box, so it is shown beside the parts, never instead of them.
 * diff() of two snapshots gives each part's ms; the clock tick is 100 Hz (10 ms per process per
 * read), which is why the bench divides by many messages.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10;

export interface CpuSnapshot {
  postfix: number;
  milter: number;
  sink: number;
  source: number;
  machine: number;
}

/** utime, stime, cutime, cstime and pgrp of a process, in ticks; null once it is gone. */
function stat(pid: number | string): { self: number; children: number; pgrp: number } | null {
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

function groupTicks(pgid: number): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = stat(entry);
    if (!s || s.pgrp !== pgid) continue;
    total += s.self;
    if (Number(entry) === pgid) total += s.children;
  }
  return total;
}

function machineTicks(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  return cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!;
}

export function snapshot(pids: { postfixMaster: number; milter?: number; sink: number }): CpuSnapshot {
  return {
    postfix: groupTicks(pids.postfixMaster) * TICK_MS,
    milter: pids.milter ? (stat(pids.milter)?.self ?? 0) * TICK_MS : 0,
    sink: (stat(pids.sink)?.self ?? 0) * TICK_MS,
    source: (stat(process.pid)?.children ?? 0) * TICK_MS,
    machine: machineTicks() * TICK_MS,
  };
}

export function diff(before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  return {
    postfix: after.postfix - before.postfix,
    milter: after.milter - before.milter,
    sink: after.sink - before.sink,
    source: after.source - before.source,
    machine: after.machine - before.machine,
  };
}
