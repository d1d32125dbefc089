/**
 * Relay benchmark: the same workloads go through Sluice and through a scratch Postfix (Debian
 * package, relaying to the same smtp-sinks, queue on the same disk), alternating for several rounds.
 * Workloads (relay-workloads.ts): `2k`, 5000 messages of 2 KB over 20 sessions by smtp-source; and
 * `fanout`, 1000 messages to 50 recipients in 10 domains, each routed by one transport map to its
 * own sink. Each workload runs in both session patterns: sessions reused (smtp-source -d) and a new
 * connection per message (no -d). Reports end-to-end messages/s (injection start → the sinks'
 * counters reaching N), inject latency p50/p99 (when the injector measures it), the Sluice/Postfix
 * ratio of medians, the MTA's CPU per message (every Postfix process; the sluice serve process),
 * connect → 220 of each MTA (probed before every run) and Sluice's peak RSS, as
 * markdown tables on stdout (relay-report.ts); progress goes to stderr. Every process it starts is
 * stopped and every scratch dir removed, also on failure or ^C. Run it with `make bench-relay` or
 * `bench/relay --help`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { waitFor } from '../test/harness/net.js';
import { onProcessExit, startPostfix } from '../test/harness/postfix.js';
import { startRedis } from '../test/harness/redis.js';
import { type SluiceProcess, startSluice } from '../test/harness/sluice-process.js';
import { probeGreeting } from './greeting-probe.js';
import { groupCpuMs, processCpuMs } from './proc-cpu.js';
import { percentile } from './relay-injector.js';
import { PATTERN_TITLE, type Pattern, type RunResult, report } from './relay-report.js';
import { fanoutWorkload, singleWorkload, type Workload, type WorkloadRun } from './relay-workloads.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SMTP_SOURCE = '/usr/sbin/smtp-source';
const SYSTEMS = ['postfix', 'sluice'] as const;
/** A Sluice run is named by its store: `sluice` (embedded) or `sluice+redis`. */
type System = 'postfix' | 'sluice' | 'sluice+redis';
const STORES = ['embedded', 'redis'] as const;
type Store = (typeof STORES)[number];
const WORKLOADS = ['2k', 'fanout'] as const;
type WorkloadName = (typeof WORKLOADS)[number];
const PATTERNS = ['reuse', 'reconnect'] as const;

const USAGE = `usage: bench/relay [options]

Runs the same smtp-source workload through Sluice and a scratch Postfix, both relaying to one smtp-sink.

  --rounds N      rounds; each runs every system once, order alternating (default 3)
  --workloads L   comma-separated subset of ${WORKLOADS.join(',')} (default both)
  --messages N    messages per run of the 2k workload (default 5000)
  --fanout-messages N  messages per run of the fanout workload, 50 recipients each (default 1000)
  --sessions N    concurrent injecting SMTP sessions (default 20)
  --size BYTES    message body size (default 2048)
  --injector X    2k workload injector: smtp-source (default) or node (also measures inject latency)
  --patterns L    session patterns, comma-separated subset of ${PATTERNS.join(',')} (default both):
                  reuse = each session sends its share (smtp-source -d), reconnect = a new connection
                  per message (smtp-source without -d)
  --probes N      connect → 220 probes before each run (default 100)
  --systems LIST  comma-separated subset of ${SYSTEMS.join(',')} (default both)
  --store LIST    Sluice's store backends, comma-separated subset of ${STORES.join(',')} (default embedded);
                  redis runs against a scratch redis-server started for each run
  --dir PATH      parent of the scratch queues of both MTAs (default <repo>/.bench)
  --timeout SECS  limit for each wait: injection, delivery, queue drain (default 300)
  --profile DIR   write a CPU profile of each Sluice run into DIR (node --cpu-prof; open in Chrome DevTools)
  -h, --help      this text`;

interface Options {
  rounds: number;
  workloads: WorkloadName[];
  fanoutMessages: number;
  injector: 'smtp-source' | 'node';
  messages: number;
  sessions: number;
  size: number;
  patterns: Pattern[];
  probes: number;
  systems: System[];
  dir: string;
  timeoutMs: number;
  /** Write a V8 CPU profile of each sluice serve run here (node --cpu-prof). */
  profileDir: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      workloads: { type: 'string', default: WORKLOADS.join(',') },
      'fanout-messages': { type: 'string', default: '1000' },
      injector: { type: 'string', default: 'smtp-source' },
      messages: { type: 'string', default: '5000' },
      sessions: { type: 'string', default: '20' },
      size: { type: 'string', default: '2048' },
      patterns: { type: 'string', default: PATTERNS.join(',') },
      probes: { type: 'string', default: '100' },
      systems: { type: 'string', default: SYSTEMS.join(',') },
      store: { type: 'string', default: 'embedded' },
      dir: { type: 'string', default: path.join(repoRoot, '.bench') },
      timeout: { type: 'string', default: '300' },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (name: string, raw: string): number => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`--${name} needs a positive integer, got "${raw}"\n\n${USAGE}`);
    return n;
  };
  const systems = values.systems.split(',').map((s) => s.trim());
  for (const s of systems) {
    if (!(SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system "${s}"\n\n${USAGE}`);
  }
  const workloads = values.workloads.split(',').map((s) => s.trim());
  for (const w of workloads) {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`unknown workload "${w}"\n\n${USAGE}`);
  }
  const patterns = values.patterns.split(',').map((s) => s.trim());
  for (const p of patterns) {
    if (!(PATTERNS as readonly string[]).includes(p)) throw new Error(`unknown pattern "${p}"\n\n${USAGE}`);
  }
  const stores = values.store.split(',').map((s) => s.trim());
  for (const store of stores) {
    if (!(STORES as readonly string[]).includes(store))
      throw new Error(`unknown store "${store}"\n\n${USAGE}`);
  }
  const runs: System[] = systems.flatMap((s): System[] =>
    s === 'postfix'
      ? ['postfix']
      : (stores as Store[]).map((store) => (store === 'redis' ? 'sluice+redis' : 'sluice')),
  );
  if (values.injector !== 'smtp-source' && values.injector !== 'node')
    throw new Error(`--injector is smtp-source or node, got "${values.injector}"\n\n${USAGE}`);
  return {
    rounds: positive('rounds', values.rounds),
    workloads: workloads as WorkloadName[],
    fanoutMessages: positive('fanout-messages', values['fanout-messages']),
    injector: values.injector,
    messages: positive('messages', values.messages),
    sessions: positive('sessions', values.sessions),
    size: positive('size', values.size),
    patterns: patterns as Pattern[],
    probes: positive('probes', values.probes),
    systems: runs,
    dir: path.resolve(values.dir),
    timeoutMs: positive('timeout', values.timeout) * 1000,
    profileDir: values.profile ? path.resolve(values.profile) : undefined,
  };
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** VmHWM (peak resident set) of a live process, in KiB. */
function peakRssKiB(pid: number): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Runs smtp-source against port; resolves when it exits cleanly, rejects on error or timeout. */
function inject(port: number, options: Options, reconnect: boolean): Promise<void> {
  const args = [
    '-s',
    String(options.sessions),
    '-m',
    String(options.messages),
    '-l',
    String(options.size),
    // One HELO name and fixed addresses, so both MTAs see byte-identical transactions.
    '-M',
    'source.sluice-bench.example',
    '-f',
    'bench@sluice-bench.example',
    '-t',
    'sink@sluice-bench.example',
    ...(reconnect ? [] : ['-d']),
    `127.0.0.1:${port}`,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister = onProcessExit(() => child.kill('SIGKILL'));
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`smtp-source did not finish in ${options.timeoutMs} ms:\n${output}`));
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      unregister();
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      unregister();
      if (code === 0) resolve();
      else reject(new Error(`smtp-source exited with ${code ?? signal}:\n${output}`));
    });
  });
}

interface Timing {
  seconds: number;
  injectSeconds: number;
  latencies: number[] | null;
}

/** The timed part, identical for both systems: inject N, wait until the sinks have their share. */
async function timeWorkload(port: number, run: WorkloadRun): Promise<Timing> {
  const start = performance.now();
  const latencies = await run.inject(port);
  const injected = performance.now();
  const arrived = await run.arrived();
  return { seconds: (arrived - start) / 1000, injectSeconds: (injected - start) / 1000, latencies };
}

interface RunContext {
  round: number;
  workload: Workload;
  pattern: Pattern;
  options: Options;
  scratch: string;
}

function resultOf(
  system: System,
  context: RunContext,
  timing: Timing,
  greeting: number[],
  cpuMs: number,
  peakRssKiB?: number,
): RunResult {
  const { workload } = context;
  const result: RunResult = {
    system,
    workload: workload.name,
    pattern: context.pattern,
    round: context.round,
    seconds: timing.seconds,
    injectSeconds: timing.injectSeconds,
    rate: workload.messages / timing.seconds,
    greeting,
    cpuMsPerMessage: cpuMs / workload.messages,
  };
  if (timing.latencies) {
    result.p50 = percentile(timing.latencies, 50);
    result.p99 = percentile(timing.latencies, 99);
  }
  if (peakRssKiB !== undefined) result.peakRssKiB = peakRssKiB;
  return result;
}

async function runPostfix(context: RunContext): Promise<RunResult> {
  const { workload, options } = context;
  const postfix = await startPostfix({
    ...(workload.postfix.relayhost ? { relayhost: workload.postfix.relayhost } : {}),
    baseDir: context.scratch,
    extraMainCf: { myhostname: 'sluice-bench.localdomain', ...workload.postfix.extraMainCf },
  });
  let timing: Timing;
  let greeting: number[];
  let cpuMs: number;
  const run = workload.start({
    timeoutMs: options.timeoutMs,
    sessions: options.sessions,
    reconnect: context.pattern === 'reconnect',
  });
  try {
    greeting = await probeGreeting(postfix.port, options.probes);
    const cpuBefore = groupCpuMs(postfix.masterPid);
    timing = await timeWorkload(postfix.port, run);
    // qmgr deletes a queue file only after the sink's 250; an empty queue also proves nothing is deferred.
    await postfix.waitForEmptyQueue(options.timeoutMs);
    cpuMs = groupCpuMs(postfix.masterPid) - cpuBefore;
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nPostfix maillog tail:\n${postfix.log().split('\n').slice(-20).join('\n')}`,
    );
  } finally {
    await postfix.stop();
  }
  run.check('postfix');
  return resultOf('postfix', context, timing, greeting, cpuMs);
}

async function runSluice(context: RunContext, system: 'sluice' | 'sluice+redis'): Promise<RunResult> {
  const { workload, options } = context;
  const dataDir = mkdtempSync(path.join(context.scratch, 'sluice-'));
  const redis = system === 'sluice+redis' ? await startRedis() : null;
  const storeOverrides: Record<string, string> = redis
    ? { 'store.backend': 'redis', 'store.redis.url': redis.url }
    : {};
  try {
    const sluice = await startSluice({
      dataDir,
      overrides: { ...workload.sluice, ...storeOverrides, 'log.level': 'warn' },
      ...(options.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] } : {}),
    });
    const unregister = onProcessExit(() => sluice.child.kill('SIGKILL'));
    const pid = sluice.child.pid!;
    const run = workload.start({
      timeoutMs: options.timeoutMs,
      sessions: options.sessions,
      reconnect: context.pattern === 'reconnect',
    });
    let timing: Timing;
    let greeting: number[];
    let cpuMs: number;
    let peak: number | undefined;
    try {
      await waitUntilReady(sluice, options.timeoutMs);
      greeting = await probeGreeting(sluice.smtpPort, options.probes);
      const cpuBefore = processCpuMs(pid);
      timing = await timeWorkload(sluice.smtpPort, run);
      // As for Postfix: the run ends when the queue is empty (delivered files recycled, events written).
      await waitFor(() => spoolEmpty(dataDir), options.timeoutMs, `empty spool in ${dataDir}`);
      cpuMs = processCpuMs(pid) - cpuBefore;
      // Read before stopping: /proc/<pid> is gone once it exits.
      peak = peakRssKiB(pid);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nSluice output tail:\n${sluice.output().slice(-4000)}`);
    } finally {
      const timer = setTimeout(() => sluice.child.kill('SIGKILL'), 30_000);
      await sluice.stop();
      clearTimeout(timer);
      unregister();
    }
    run.check(system);
    return resultOf(system, context, timing, greeting, cpuMs, peak);
  } finally {
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * startSluice resolves once the SMTP port answers; the HTTP listener (and the rest) is still
 * starting then and would compete with the first connections: /readyz says 200 once all is up.
 */
async function waitUntilReady(sluice: SluiceProcess, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${sluice.httpPort}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    timeoutMs,
    'sluice serve to be ready',
  );
}

/** No message file (nor side file) left in Sluice's queue directory. */
function spoolEmpty(dataDir: string): boolean {
  try {
    return readdirSync(path.join(dataDir, 'spool', 'queue')).length === 0;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const binary of [SMTP_SOURCE, '/usr/sbin/smtp-sink', '/usr/sbin/postfix']) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`make system-deps\``);
  }
  mkdirSync(options.dir, { recursive: true });
  const scratch = mkdtempSync(path.join(options.dir, 'relay-'));
  // Postfix daemons run as the postfix user and open absolute paths below here.
  chmodSync(scratch, 0o755);
  const unregister = onProcessExit(() => rmSync(scratch, { recursive: true, force: true }));
  const postfixVersion = await new Promise<string>((resolve) => {
    const child = spawn('/usr/sbin/postconf', ['-d', '-h', 'mail_version'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once('close', () => resolve(out.trim() || 'unknown'));
  });
  const workloads: Workload[] = [];
  const results: RunResult[] = [];
  try {
    const shared = { size: options.size, sessions: options.sessions, scratch };
    for (const name of options.workloads) {
      workloads.push(
        name === '2k'
          ? await singleWorkload(
              { ...shared, messages: options.messages, injector: options.injector },
              (port, reconnect) => inject(port, options, reconnect),
            )
          : await fanoutWorkload({ ...shared, messages: options.fanoutMessages, injector: 'node' }),
      );
    }
    for (let round = 1; round <= options.rounds; round++) {
      for (const workload of workloads) {
        for (const pattern of options.patterns) {
          // Alternate who goes first so drift (page cache, CPU frequency) does not favour one system.
          const order = round % 2 === 1 ? options.systems : [...options.systems].reverse();
          for (const system of order) {
            const context = { round, workload, pattern, options, scratch };
            const result =
              system === 'postfix' ? await runPostfix(context) : await runSluice(context, system);
            results.push(result);
            progress(
              `round ${round} ${workload.name} (${PATTERN_TITLE[pattern]}) ${system}: ${result.rate.toFixed(0)} msg/s ` +
                `(end to end ${result.seconds.toFixed(2)} s, injection done after ${result.injectSeconds.toFixed(2)} s` +
                `${result.p50 === undefined ? '' : `, inject p50 ${result.p50.toFixed(1)} ms p99 ${result.p99!.toFixed(1)} ms`}` +
                `, connect→220 p99 ${percentile(result.greeting, 99).toFixed(2)} ms` +
                `, CPU ${result.cpuMsPerMessage.toFixed(2)} ms/msg` +
                `${result.peakRssKiB === undefined ? '' : `, peak RSS ${(result.peakRssKiB / 1024).toFixed(1)} MiB`})`,
            );
          }
        }
      }
    }
  } finally {
    for (const workload of workloads) await workload.stop();
    rmSync(scratch, { recursive: true, force: true });
    unregister();
  }
  const header =
    `Relay benchmark: ${options.rounds} rounds, medians over rounds; Postfix ${postfixVersion}, Node ${process.version}, ` +
    `${os.cpus().length} CPUs (shared with other work on this machine; load average at the end ` +
    `${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}); queues under ${options.dir}; durability on in both`;
  console.log(report(results, workloads, options.patterns, options.systems, header));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/relay: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
