/**
 * Tracking benchmark (issue 4), three parts printed as markdown tables on stdout (progress on
 * stderr), each side by side with its reference in the same run:
 *  1. rewrite throughput on one core for a 50 KB newsletter (tracking-rewrite.ts), against a
 *     plain pass-through of the same bytes — targets ≥ 1,000 newsletters/s;
 *  2. the /f/ endpoint under autocannon with click events recorded (tracking-load.ts), against a
 *     bare fastify 302 route — targets ≥ 10,000 redirects/s with p99 < 10 ms;
 *  3. what one click costs the embedded event store (tracking-store.ts).
 * Medians over rounds. Every process and scratch dir is removed, also on failure.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { loadBench } from './tracking-load.js';
import { rewriteBench } from './tracking-rewrite.js';
import { storeBench } from './tracking-store.js';

const USAGE = `usage: bench/tracking [options]

  --rounds N        rounds per part (default 5)
  --messages N      newsletters rewritten per path per round (default 1000)
  --seconds N       autocannon duration per server per round (default 8)
  --connections N   autocannon connections (default 32)
  --clicks N        clicks per store step per round (default 5000)
  --only PART       rewrite | load | store (default: all three)
  -h, --help        this text`;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    messages: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '32' },
    clicks: { type: 'string', default: '5000' },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const int = (name: keyof typeof values) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
};
const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const part = (name: string) => !values.only || values.only === name;

console.log(
  `Tracking benchmark: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} at start. Other work shares this machine: figures are lower bounds.\n`,
);

if (part('rewrite')) {
  const rounds = int('rounds');
  const { size, figures } = rewriteBench(rounds, int('messages'), log);
  const reference = median(figures.at(-1)!.rates);
  console.log(`### Rewrite: ${fmt(size / 1024, 1)} KB newsletter, one core, median of ${rounds} rounds\n`);
  console.log(
    '| path | links tracked | messages/s | MB/s | min–max msg/s | messages per CPU-second | vs pass-through |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const f of figures) {
    const m = median(f.rates);
    console.log(
      `| ${f.path} | ${f.links} | ${fmt(m)} | ${fmt((m * size) / 1e6, 1)} | ${fmt(Math.min(...f.rates))}–${fmt(Math.max(...f.rates))} | ${fmt(median(f.cpuRates))} | ${(m / reference).toFixed(4)} |`,
    );
  }
  console.log('\nTarget: ≥ 1,000 newsletters/s rewritten on one core.\n');
}

if (part('load')) {
  const rounds = await loadBench(
    { rounds: int('rounds'), seconds: int('seconds'), connections: int('connections') },
    log,
  );
  const of = (system: string) => rounds.filter((r) => r.system === system);
  const reference = median(of('reference').map((r) => r.rps));
  console.log(
    `### /f/ redirects under load: autocannon, ${values.connections} connections, ${values.seconds} s per round, median of ${values.rounds} rounds\n`,
  );
  console.log(
    '| server | requests/s | p50 ms | p99 ms | server main-thread CPU µs/req | server process CPU µs/req | autocannon CPU % of a core | responses (all 302) | click events recorded | vs reference |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const labels = {
    sluice: 'sluice (verify + record, batches committed by a worker thread, as serve runs it)',
    'sluice-main-thread': 'sluice, batches committed on the main thread (before)',
    reference: 'reference (bare fastify 302)',
  } as const;
  const cpu = (xs: (number | null)[]) => (xs.some((x) => x === null) ? '—' : fmt(median(xs as number[]), 1));
  for (const system of ['sluice', 'sluice-main-thread', 'reference'] as const) {
    const rs = of(system);
    const rps = median(rs.map((r) => r.rps));
    const recorded = rs.every((r) => r.clicksRecorded === null)
      ? '—'
      : fmt(rs.reduce((n, r) => n + (r.clicksRecorded ?? 0), 0));
    console.log(
      `| ${labels[system]} | ${fmt(rps)} | ${median(rs.map((r) => r.p50))} | ${median(rs.map((r) => r.p99))} | ${cpu(rs.map((r) => r.mainCpuUs))} | ${cpu(rs.map((r) => r.processCpuUs))} | ${fmt(median(rs.map((r) => r.loaderCpu)))} | ${fmt(rs.reduce((n, r) => n + r.responses, 0))} | ${recorded} | ${(rps / reference).toFixed(2)} |`,
    );
  }
  console.log('\nTarget: ≥ 10,000 redirects/s with p99 < 10 ms.\n');
}

if (part('store')) {
  const rounds = int('rounds');
  const figures = await storeBench(rounds, int('clicks'), log);
  console.log(`### Embedded event store, per click, in process, median of ${rounds} rounds\n`);
  console.log('| step | operations/s | µs per operation |');
  console.log('|---|---:|---:|');
  for (const f of figures) {
    const m = median(f.rates);
    console.log(`| ${f.step} | ${fmt(m)} | ${fmt(1e6 / m, 1)} |`);
  }
  console.log('');
}
