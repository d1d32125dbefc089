/**
 * Relay benchmark: the same smtp-source workload (default 5000 messages of 2 KB over 20 concurrent
 * sessions) goes through Sluice and through a scratch Postfix (Debian package, relaying to the same
 * smtp-sink, queue on the same disk), alternating for several rounds. Reports end-to-end messages/s
 * (smtp-source start → the sink's counter reaching N), the Sluice/Postfix ratio of medians and Sluice's
 * peak RSS, as a markdown table on stdout; progress goes to stderr. Every process it starts is stopped
 * and every scratch dir removed, also on failure or ^C. Run it with `make bench` or `bench/relay --help`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onProcessExit, startPostfix } from '../test/harness/postfix.js';
import { type RedisServer, startRedis } from '../test/harness/redis.js';
import { startSluice } from '../test/harness/sluice-process.js';
import { type SmtpSink, startSmtpSink } from '../test/harness/smtp-sink.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SMTP_SOURCE = '/usr/sbin/smtp-source';
const SYSTEMS = ['postfix', 'sluice'] as const;
/** `sluice-redis`: Sluice with store.backend=redis (from --store), beside the embedded one. */
type System = (typeof SYSTEMS)[number] | 'sluice-redis';

const USAGE = `usage: bench/relay [options]

Runs the same smtp-source workload through Sluice and a scratch Postfix, both relaying to one smtp-sink.

  --rounds N      rounds; each runs every system once, order alternating (default 3)
  --messages N    messages per run (default 5000)
  --sessions N    concurrent SMTP sessions of smtp-source (default 20)
  --size BYTES    message body size (default 2048)
  --reconnect     a new connection per message instead of reusing each session (smtp-source without -d)
  --systems LIST  comma-separated subset of ${SYSTEMS.join(',')} (default both)
  --store LIST    Sluice's store backends: embedded, redis or both (default embedded); redis runs a
                  harness redis-server on a loopback port (no persistence) shared by the rounds
  --dir PATH      parent of the scratch queues of both MTAs (default <repo>/.bench)
  --timeout SECS  limit for each wait: injection, delivery, queue drain (default 300)
  -h, --help      this text`;

interface Options {
  rounds: number;
  messages: number;
  sessions: number;
  size: number;
  reconnect: boolean;
  systems: System[];
  dir: string;
  timeoutMs: number;
}

interface RunResult {
  system: System;
  round: number;
  seconds: number;
  injectSeconds: number;
  rate: number;
  peakRssKiB?: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      messages: { type: 'string', default: '5000' },
      sessions: { type: 'string', default: '20' },
      size: { type: 'string', default: '2048' },
      reconnect: { type: 'boolean', default: false },
      systems: { type: 'string', default: SYSTEMS.join(',') },
      store: { type: 'string', default: 'embedded' },
      dir: { type: 'string', default: path.join(repoRoot, '.bench') },
      timeout: { type: 'string', default: '300' },
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
  const stores = values.store.split(',').map((s) => s.trim());
  for (const s of stores)
    if (s !== 'embedded' && s !== 'redis') throw new Error(`unknown store "${s}"\n\n${USAGE}`);
  const expanded = systems.flatMap((s): System[] =>
    s !== 'sluice' ? [s as System] : stores.map((store) => (store === 'redis' ? 'sluice-redis' : 'sluice')),
  );
  return {
    rounds: positive('rounds', values.rounds),
    messages: positive('messages', values.messages),
    sessions: positive('sessions', values.sessions),
    size: positive('size', values.size),
    reconnect: values.reconnect,
    systems: expanded,
    dir: path.resolve(values.dir),
    timeoutMs: positive('timeout', values.timeout) * 1000,
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
function inject(port: number, options: Options): Promise<void> {
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
    ...(options.reconnect ? [] : ['-d']),
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
  /** Sink count that means "all N arrived". */
  target: number;
}

/** The timed part, identical for both systems: inject N, wait until the sink has N more. */
async function timeWorkload(port: number, sink: SmtpSink, options: Options): Promise<Timing> {
  const target = sink.count() + options.messages;
  const start = performance.now();
  await inject(port, options);
  const injected = performance.now();
  const arrived = await sink.waitForCount(target, options.timeoutMs);
  return { seconds: (arrived - start) / 1000, injectSeconds: (injected - start) / 1000, target };
}

async function runPostfix(
  round: number,
  sink: SmtpSink,
  options: Options,
  scratch: string,
): Promise<RunResult> {
  const postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    baseDir: scratch,
    extraMainCf: { myhostname: 'sluice-bench.localdomain' },
  });
  let timing: Timing;
  try {
    timing = await timeWorkload(postfix.port, sink, options);
    // qmgr deletes a queue file only after the sink's 250; an empty queue also proves nothing is deferred.
    await postfix.waitForEmptyQueue(options.timeoutMs);
  } catch (error) {
    throw new Error(
      `${(error as Error).message}\nPostfix maillog tail:\n${postfix.log().split('\n').slice(-20).join('\n')}`,
    );
  } finally {
    await postfix.stop();
  }
  checkExact(sink, timing.target, 'postfix');
  return { system: 'postfix', round, ...timing, rate: options.messages / timing.seconds };
}

async function runSluice(
  round: number,
  sink: SmtpSink,
  options: Options,
  scratch: string,
  redis: RedisServer | null = null,
): Promise<RunResult> {
  const system: System = redis ? 'sluice-redis' : 'sluice';
  const dataDir = mkdtempSync(path.join(scratch, 'sluice-'));
  try {
    const store: Record<string, string> = redis
      ? { 'store.backend': 'redis', 'store.redis.url': redis.url }
      : {};
    const sluice = await startSluice({
      dataDir,
      overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'log.level': 'warn', ...store },
    });
    const unregister = onProcessExit(() => sluice.child.kill('SIGKILL'));
    let timing: Timing;
    let peak: number | undefined;
    try {
      timing = await timeWorkload(sluice.smtpPort, sink, options);
      // Read before stopping: /proc/<pid> is gone once it exits.
      peak = sluice.child.pid ? peakRssKiB(sluice.child.pid) : undefined;
    } catch (error) {
      throw new Error(`${(error as Error).message}\nSluice output tail:\n${sluice.output().slice(-4000)}`);
    } finally {
      const timer = setTimeout(() => sluice.child.kill('SIGKILL'), 30_000);
      await sluice.stop();
      clearTimeout(timer);
      unregister();
    }
    checkExact(sink, timing.target, system);
    return { system, round, ...timing, rate: options.messages / timing.seconds, peakRssKiB: peak };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Called once the MTA is stopped, so late duplicates have had every chance to show up. */
function checkExact(sink: SmtpSink, target: number, system: System): void {
  if (sink.count() !== target)
    throw new Error(`${system}: sink counted ${sink.count()}, expected exactly ${target}`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function report(results: RunResult[], options: Options, postfixVersion: string): string {
  const fmt = (n: number) => n.toFixed(0);
  const lines = [
    `Relay benchmark: ${options.messages} messages of ${options.size} B over ${options.sessions} sessions` +
      `${options.reconnect ? ' (new connection per message)' : ''}, ${options.rounds} rounds; ` +
      `Postfix ${postfixVersion}, Node ${process.version}, ${os.cpus().length} CPUs; queues under ${options.dir}`,
    '',
    '| system | median msg/s | min | max | per-round msg/s |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  const medians = new Map<System, number>();
  for (const system of options.systems) {
    const rates = results.filter((r) => r.system === system).map((r) => r.rate);
    if (rates.length === 0) continue;
    medians.set(system, median(rates));
    lines.push(
      `| ${system} | ${fmt(median(rates))} | ${fmt(Math.min(...rates))} | ${fmt(Math.max(...rates))} | ${rates.map(fmt).join(', ')} |`,
    );
  }
  lines.push('');
  const sluiceMedian = medians.get('sluice');
  const postfixMedian = medians.get('postfix');
  if (sluiceMedian !== undefined && postfixMedian !== undefined) {
    lines.push(`Sluice/Postfix (medians): ${(sluiceMedian / postfixMedian).toFixed(2)}`);
  }
  const redisMedian = medians.get('sluice-redis');
  if (redisMedian !== undefined && sluiceMedian !== undefined)
    lines.push(`Sluice on Redis / Sluice embedded (medians): ${(redisMedian / sluiceMedian).toFixed(2)}`);
  const peaks = results.flatMap((r) => (r.peakRssKiB === undefined ? [] : [r.peakRssKiB]));
  if (peaks.length > 0)
    lines.push(`Sluice peak RSS (VmHWM, max over rounds): ${(Math.max(...peaks) / 1024).toFixed(1)} MiB`);
  return lines.join('\n');
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
  const sink = await startSmtpSink({});
  const redis = options.systems.includes('sluice-redis') ? await startRedis() : null;
  const results: RunResult[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      // Alternate who goes first so drift (page cache, CPU frequency) does not favour one system.
      const order = round % 2 === 1 ? options.systems : [...options.systems].reverse();
      for (const system of order) {
        const result =
          system === 'postfix'
            ? await runPostfix(round, sink, options, scratch)
            : await runSluice(round, sink, options, scratch, system === 'sluice-redis' ? redis : null);
        results.push(result);
        progress(
          `round ${round} ${system}: ${result.rate.toFixed(0)} msg/s ` +
            `(end to end ${result.seconds.toFixed(2)} s, injection done after ${result.injectSeconds.toFixed(2)} s` +
            `${result.peakRssKiB === undefined ? '' : `, peak RSS ${(result.peakRssKiB / 1024).toFixed(1)} MiB`})`,
        );
      }
    }
  } finally {
    await sink.stop();
    await redis?.stop();
    rmSync(scratch, { recursive: true, force: true });
    unregister();
  }
  console.log(report(results, options, postfixVersion));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/relay: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
