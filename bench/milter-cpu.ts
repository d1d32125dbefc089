/**
 * CPU accounting for the milter benchmark (proc-cpu.ts): where the machine's CPU went during one
 * run, split by who spent it. A snapshot holds cumulative user+system time in ms of
 * - the Postfix instance: every live process of its process group (the master's pid) plus what
 *   the master has reaped (cutime/cstime: smtpd processes that exited after max_use);
 * - the milter process, the smtp-sink process and the bench's own reaped children (smtp-source);
 * - the whole machine (busy = everything but idle and iowait, over all CPUs), which also counts
 *   whatever else runs on the box, so it is shown beside the parts, never instead of them.
 * diff() of two snapshots gives each part's ms; the clock tick is 100 Hz (10 ms per process per
 * read), which is why the bench divides by many messages.
 */
import { childrenCpuMs, groupCpuMs, machineBusyMs, processCpuMs } from './proc-cpu.js';

export interface CpuSnapshot {
  postfix: number;
  milter: number;
  sink: number;
  source: number;
  machine: number;
}

export function snapshot(pids: { postfixMaster: number; milter?: number; sink: number }): CpuSnapshot {
  return {
    postfix: groupCpuMs(pids.postfixMaster),
    milter: pids.milter ? processCpuMs(pids.milter) : 0,
    sink: processCpuMs(pids.sink),
    source: childrenCpuMs(),
    machine: machineBusyMs(),
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
