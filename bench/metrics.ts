/**
 * Metrics bench, two questions in one run (`make bench-metrics` or `bench/metrics`):
 *  1. How fast does the Metrics API answer over 10 million events? For each store (embedded
 *     SQLite, Redis), a month of rollups is loaded through the real rollup code (metrics-load.ts),
 *     a real `sluice serve` is started on it, and each question of metrics-queries.ts is asked
 *     over HTTP `reps` times: p50, p99 and max against the 200 ms target.
 *  2. What does keeping rollups cost the relay? bench/relay's workloads (2k and fanout, Node
 *     injector) through `sluice serve` with metrics.rollups true and false, alternating which goes
 *     first each round: medians and the on/off ratio against the 5% budget.
 * Markdown tables on stdout, progress on stderr; every process started is stopped and every
 * scratch directory removed, also on failure or ^C.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { loadConfig } from '../src/config/index.js';
import { openStores } from '../src/store/open.js';
import { createKey } from '../test/harness/clients.js';
import { onProcessExit } from '../test/harness/postfix.js';
import { startRedis } from '../test/harness/redis.js';
import { startSluice } from '../test/harness/sluice-process.js';
import { loadRollups } from './metrics-load.js';
import { questions, type Timing, timeQuestions } from './metrics-queries.js';
import { processCpuMs } from './proc-cpu.js';
import { fanoutWorkload, singleWorkload, type Workload } from './relay-workloads.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STORES = ['embedded', 'redis'] as const;
type Store = (typeof STORES)[number];

const USAGE = `usage: bench/metrics [options]

  --events N            events whose rollups are queried (default 10000000)
  --days N              the month they span, ending now (default 30)
  --reps N              timed answers per question, after 3 untimed (default 60)
  --store LIST          embedded,redis (default both)
  --relay-rounds N      rounds of the relay comparison, 0 to skip it (default 3)
  --relay-messages N    messages per run of the 2k workload (default 5000)
  --fanout-messages N   messages per run of the fanout workload, 50 recipients each (default 300)
  --skip-queries        only the relay comparison
  --dir PATH            scratch parent (default <repo>/.bench)
  --timeout SECS        limit for each relay wait (default 300)
  -h, --help            this text`;

function options() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '10000000' },
      days: { type: 'string', default: '30' },
      reps: { type: 'string', default: '60' },
      store: { type: 'string', default: STORES.join(',') },
      'relay-rounds': { type: 'string', default: '3' },
      'relay-messages': { type: 'string', default: '5000' },
      'fanout-messages': { type: 'string', default: '300' },
      'skip-queries': { type: 'boolean', default: false },
      dir: { type: 'string', default: path.join(repoRoot, '.bench') },
      timeout: { type: 'string', default: '300' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = (name: string, raw: string, min = 1) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`--${name} needs an integer of at least ${min}, got "${raw}"\n\n${USAGE}`);
    return n;
  };
  const stores = values.store.split(',').map((s) => s.trim());
  for (const s of stores)
    if (!(STORES as readonly string[]).includes(s)) throw new Error(`unknown store "${s}"\n\n${USAGE}`);
  return {
    events: count('events', values.events),
    days: count('days', values.days),
    reps: count('reps', values.reps),
    stores: stores as Store[],
    relayRounds: count('relay-rounds', values['relay-rounds'], 0),
    relayMessages: count('relay-messages', values['relay-messages']),
    fanoutMessages: count('fanout-messages', values['fanout-messages']),
    skipQueries: values['skip-queries'],
    dir: path.resolve(values.dir),
    timeoutMs: count('timeout', values.timeout) * 1000,
  };
}

type Options = ReturnType<typeof options>;

const progress = (message: string) => process.stderr.write(`${message}\n`);

interface StoreRun {
  store: Store;
  timings: Timing[];
  load: { events: number; seconds: number };
  size: string;
}

async function queryStore(store: Store, o: Options, scratch: string): Promise<StoreRun> {
  const dataDir = mkdtempSync(path.join(scratch, `metrics-${store}-`));
  const redis = store === 'redis' ? await startRedis() : null;
  const overrides: Record<string, string> = redis
    ? { 'store.backend': 'redis', 'store.redis.url': redis.url }
    : {};
  try {
    // The loader's batches are bigger than the outbox's 500-event chunks: a script may run seconds.
    const config = loadConfig({
      overrides: [
        `data_dir=${dataDir}`,
        'store.redis.command_timeout=300s',
        ...Object.entries(overrides).map(([k, v]) => `${k}=${v}`),
      ],
    });
    const stores = await openStores(config);
    const now = Date.now();
    progress(`${store}: loading the rollups of ${o.events.toLocaleString('en')} events over ${o.days} days`);
    const load = await loadRollups(
      (batch) => stores.metrics.apply(batch),
      { events: o.events, days: o.days, now },
      (done) => progress(`${store}: ${done.toLocaleString('en')} events counted`),
    );
    await stores.close();
    let size: string;
    if (redis) {
      const { Redis } = await import('ioredis');
      const client = new Redis(redis.url);
      const memory = /used_memory:(\d+)/.exec(await client.info('memory'))?.[1];
      const keys = await client.dbsize();
      client.disconnect();
      size = `Redis used_memory ${(Number(memory) / 2 ** 20).toFixed(0)} MiB, ${keys.toLocaleString('en')} keys`;
    } else {
      const db = new Database(path.join(dataDir, 'sluice.db'), { readonly: true });
      const rows = db.prepare('SELECT count(*) FROM metric_rows').pluck().get() as number;
      const reasons = db.prepare('SELECT count(*) FROM metric_reasons').pluck().get() as number;
      db.close();
      const bytes = statSync(path.join(dataDir, 'sluice.db')).size;
      size = `SQLite ${(bytes / 2 ** 20).toFixed(0)} MiB: ${rows.toLocaleString('en')} rollup rows, ${reasons.toLocaleString('en')} reason rows`;
    }
    progress(`${store}: loaded in ${load.seconds.toFixed(0)} s (${size}); starting sluice serve`);
    const sluice = await startSluice({
      dataDir,
      overrides: { ...overrides, 'log.level': 'warn', 'delivery.relayhost': '[127.0.0.1]:9' },
    });
    const unregister = onProcessExit(() => sluice.child.kill('SIGKILL'));
    try {
      const key = await createKey(dataDir, {
        label: 'bench',
        grants: ['metrics/view'],
        extraArgs: Object.entries(overrides).flatMap(([k, v]) => ['-o', `${k}=${v}`]),
      });
      const timings = await timeQuestions(
        `http://127.0.0.1:${sluice.httpPort}`,
        key.key,
        questions(now),
        o.reps,
      );
      for (const t of timings)
        progress(`${store}: ${t.name}: p50 ${t.p50.toFixed(1)} ms, p99 ${t.p99.toFixed(1)} ms`);
      return { store, timings, load, size };
    } finally {
      await sluice.stop();
      unregister();
    }
  } finally {
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface RelayRun {
  workload: string;
  rollups: boolean;
  rate: number;
  /** CPU time of the sluice serve process (every thread) per message, in ms: less noisy than the rate. */
  cpuMs: number;
}

async function relayRun(
  workload: Workload,
  rollups: boolean,
  o: Options,
  scratch: string,
): Promise<RelayRun> {
  const dataDir = mkdtempSync(path.join(scratch, 'relay-'));
  try {
    const sluice = await startSluice({
      dataDir,
      overrides: { ...workload.sluice, 'metrics.rollups': rollups, 'log.level': 'warn' },
    });
    const unregister = onProcessExit(() => sluice.child.kill('SIGKILL'));
    try {
      const run = workload.start({ timeoutMs: o.timeoutMs, sessions: 20, reconnect: false });
      const pid = sluice.child.pid!;
      const cpu = processCpuMs(pid);
      const start = performance.now();
      await run.inject(sluice.smtpPort);
      const arrived = await run.arrived();
      const cpuMs = (processCpuMs(pid) - cpu) / workload.messages;
      run.check(`rollups ${rollups ? 'on' : 'off'}`);
      return {
        workload: workload.name,
        rollups,
        rate: workload.messages / ((arrived - start) / 1000),
        cpuMs,
      };
    } finally {
      await sluice.stop();
      unregister();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function report(o: Options, runs: StoreRun[], relay: RelayRun[], workloads: Workload[]): string {
  const ms = (n: number) => n.toFixed(1);
  const load = os.loadavg()[0]!.toFixed(1);
  const lines = [
    `Metrics bench: Node ${process.version}, ${os.cpus().length} CPUs, load average ${load} at the end — ` +
      'a shared machine: figures are indicative, re-measure on a quiet one.',
  ];
  if (runs.length > 0) {
    lines.push(
      '',
      `**Metrics API over ${runs[0]!.load.events.toLocaleString('en')} events (${o.days} days of rollups), HTTP, ${o.reps} answers each**`,
      '',
      `| question | ${runs.map((r) => `${r.store} p50 ms | ${r.store} p99 ms`).join(' | ')} | rows |`,
      `| --- | ${runs.map(() => '---: | ---:').join(' | ')} | ---: |`,
    );
    for (const [i, t] of runs[0]!.timings.entries())
      lines.push(
        `| ${t.name} | ${runs.map((r) => `${ms(r.timings[i]!.p50)} | ${ms(r.timings[i]!.p99)}`).join(' | ')} | ${t.rows} |`,
      );
    lines.push('');
    for (const r of runs) {
      const worst = Math.max(...r.timings.map((t) => t.p99));
      lines.push(
        `- ${r.store}: slowest p99 ${ms(worst)} ms (target < 200 ms: ${worst < 200 ? 'met' : 'NOT met'}); ` +
          `loaded through the rollup code at ${(r.load.events / r.load.seconds).toFixed(0)} events/s; ${r.size}`,
      );
    }
  }
  if (relay.length > 0) {
    lines.push(
      '',
      `**Relay throughput with and without rollups (${o.relayRounds} rounds, order alternating), embedded store**`,
      '',
      '| workload | rollups on msg/s | off msg/s | throughput cost | on CPU ms/msg | off CPU ms/msg | CPU cost | per round on | per round off |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |',
    );
    for (const w of workloads) {
      const mine = (on: boolean) => relay.filter((r) => r.workload === w.name && r.rollups === on);
      const on = mine(true).map((r) => r.rate);
      const off = mine(false).map((r) => r.rate);
      const cpuOn = median(mine(true).map((r) => r.cpuMs));
      const cpuOff = median(mine(false).map((r) => r.cpuMs));
      const ratio = median(on) / median(off);
      lines.push(
        `| ${w.name}: ${w.title} | ${median(on).toFixed(0)} | ${median(off).toFixed(0)} | ${((1 - ratio) * 100).toFixed(1)}% | ` +
          `${cpuOn.toFixed(3)} | ${cpuOff.toFixed(3)} | ${((cpuOn / cpuOff - 1) * 100).toFixed(1)}% | ` +
          `${on.map((n) => n.toFixed(0)).join(', ')} | ${off.map((n) => n.toFixed(0)).join(', ')} |`,
      );
    }
    lines.push(
      '',
      'Throughput cost = 1 − on/off of the median rates (budget: < 5%). CPU cost = the extra CPU time per message ' +
        'of the sluice serve process (all its threads) with rollups, medians: on a shared machine the rate swings ' +
        'with the neighbours, the CPU time much less. A negative cost is noise in favour of rollups.',
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = options();
  mkdirSync(o.dir, { recursive: true });
  const scratch = mkdtempSync(path.join(o.dir, 'metrics-'));
  const unregister = onProcessExit(() => rmSync(scratch, { recursive: true, force: true }));
  const runs: StoreRun[] = [];
  const relay: RelayRun[] = [];
  const workloads: Workload[] = [];
  try {
    if (!o.skipQueries) for (const store of o.stores) runs.push(await queryStore(store, o, scratch));
    if (o.relayRounds > 0) {
      const shared = { size: 2048, sessions: 20, scratch, injector: 'node' as const };
      workloads.push(
        await singleWorkload({ ...shared, messages: o.relayMessages }, () =>
          Promise.reject(new Error('node injector only')),
        ),
        await fanoutWorkload({ ...shared, messages: o.fanoutMessages }),
      );
      for (let round = 1; round <= o.relayRounds; round++)
        for (const workload of workloads)
          for (const rollups of round % 2 === 1 ? [true, false] : [false, true]) {
            const result = await relayRun(workload, rollups, o, scratch);
            relay.push(result);
            progress(
              `round ${round} ${workload.name} rollups ${rollups ? 'on' : 'off'}: ${result.rate.toFixed(0)} msg/s`,
            );
          }
    }
  } finally {
    for (const workload of workloads) await workload.stop();
    rmSync(scratch, { recursive: true, force: true });
    unregister();
  }
  console.log(report(o, runs, relay, workloads));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/metrics: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
