/**
 * The relay bench's tables: one row per workload, session pattern and system (median msg/s over
 * rounds, min, max, the ratio to Postfix's median in the same row group, the MTA's CPU per
 * message, inject latency, the per-round rates), then connect → 220 per system, then Sluice's
 * peak RSS. Markdown on stdout.
 */
import { percentile } from './relay-injector.js';

export type Pattern = 'reuse' | 'reconnect';
export const PATTERN_TITLE: Record<Pattern, string> = {
  reuse: 'reused sessions',
  reconnect: 'a connection per message',
};

export interface RunResult {
  system: string;
  workload: string;
  pattern: Pattern;
  round: number;
  seconds: number;
  injectSeconds: number;
  rate: number;
  /** Inject latency percentiles in ms, when the injector measured them. */
  p50?: number;
  p99?: number;
  /** connect → 220 of each probe connection before the run, in ms. */
  greeting: number[];
  /** The MTA's CPU time (user+system, all its processes) per message, in ms. */
  cpuMsPerMessage: number;
  peakRssKiB?: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

export function report(
  results: RunResult[],
  workloads: Array<{ name: string; title: string }>,
  patterns: Pattern[],
  systems: string[],
  header: string,
): string {
  const fmt = (n: number) => n.toFixed(0);
  const ms = (values: number[]) => (values.length ? median(values).toFixed(1) : 'n/a');
  const lines = [
    header,
    '',
    ...workloads.map((w) => `- **${w.name}**: ${w.title}`),
    '',
    '| workload | sessions | system | median msg/s | min | max | × Postfix | MTA CPU ms/msg | inject p50 ms | inject p99 ms | per-round msg/s |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  const ratios: string[] = [];
  for (const workload of workloads) {
    for (const pattern of patterns) {
      const of = (system: string) =>
        results.filter((r) => r.system === system && r.workload === workload.name && r.pattern === pattern);
      const postfix = of('postfix');
      const reference = postfix.length ? median(postfix.map((r) => r.rate)) : undefined;
      for (const system of systems) {
        const mine = of(system);
        if (mine.length === 0) continue;
        const rates = mine.map((r) => r.rate);
        const ratio = system !== 'postfix' && reference ? median(rates) / reference : undefined;
        if (ratio !== undefined)
          ratios.push(`${system} ${workload.name}, ${PATTERN_TITLE[pattern]}: ${ratio.toFixed(2)}`);
        lines.push(
          `| ${workload.name} | ${PATTERN_TITLE[pattern]} | ${system} | ${fmt(median(rates))} | ` +
            `${fmt(Math.min(...rates))} | ${fmt(Math.max(...rates))} | ${ratio === undefined ? '' : ratio.toFixed(2)} | ` +
            `${median(mine.map((r) => r.cpuMsPerMessage)).toFixed(2)} | ` +
            `${ms(mine.flatMap((r) => (r.p50 === undefined ? [] : [r.p50])))} | ` +
            `${ms(mine.flatMap((r) => (r.p99 === undefined ? [] : [r.p99])))} | ${rates.map(fmt).join(', ')} |`,
        );
      }
    }
  }
  if (ratios.length) lines.push('', `× Postfix (ratio of medians): ${ratios.join('; ')}`);
  lines.push(
    '',
    'connect → 220 on loopback, idle MTA (raw connects before each run, closed without QUIT; all runs):',
    '',
    '| system | connects | p50 ms | p99 ms | max ms |',
    '| --- | ---: | ---: | ---: | ---: |',
  );
  for (const system of systems) {
    const times = results.filter((r) => r.system === system).flatMap((r) => r.greeting);
    if (times.length === 0) continue;
    lines.push(
      `| ${system} | ${times.length} | ${percentile(times, 50).toFixed(2)} | ${percentile(times, 99).toFixed(2)} | ` +
        `${Math.max(...times).toFixed(2)} |`,
    );
  }
  const peaks = results.flatMap((r) => (r.peakRssKiB === undefined ? [] : [r.peakRssKiB]));
  if (peaks.length)
    lines.push(
      '',
      `Sluice peak RSS: ${(Math.max(...peaks) / 1024).toFixed(1)} MiB (VmHWM of sluice serve, max over runs; ` +
        'Postfix runs as many processes and is not measured).',
    );
  return lines.join('\n');
}
