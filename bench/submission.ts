/**
 * Submission benchmark: apps that send each message on a new connection with STARTTLS and AUTH
 * PLAIN (SMTP_Injection / API key), 20 in parallel, into stage 2 (`sluice serve` alone) and into
 * stage 0 (Postfix with `sluice auth`, `sluice policy` and `sluice milter`, configured from
 * contrib/postfix/main.cf.stage0), both relaying to one smtp-sink, on the same box in the same
 * run, rounds alternating and the order flipping each round (submission-stage0.ts starts them).
 * Each message is 2 KB with an X-MSYS-API header, so both stages do their whole job. Reports, per
 * system, msg/s (first connect → the sink counting N), connect → 250 after DATA p50/p99 (from the
 * client's TCP connect: greeting, EHLO, STARTTLS, EHLO, AUTH, the transaction), the CPU per
 * message of all the system's processes (from /proc) and how many TLS handshakes were resumptions,
 * and the stage 2 / stage 0 ratio, as a markdown table on stdout; progress on stderr. Every
 * process it starts is stopped and every scratch dir removed, also on failure or ^C.
 * Run it with `make bench-submission` or `bench/submission --help`.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onProcessExit } from '../test/harness/postfix.js';
import { startSmtpSink } from '../test/harness/smtp-sink.js';
import { injectWithStats, percentile } from './relay-injector.js';
import { median } from './relay-report.js';
import { type SubmissionSystem, startStage0, startStage2, tlsFiles } from './submission-stage0.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SYSTEMS = ['stage2', 'stage0'] as const;
type System = (typeof SYSTEMS)[number];
const TITLE: Record<System, string> = {
  stage2: 'stage 2: sluice serve',
  stage0: 'stage 0: Postfix + sluice auth, policy, milter',
};
const FROM = 'app@sluice-bench.example';

const USAGE = `usage: bench/submission [options]

A new connection per message with STARTTLS and AUTH PLAIN: sluice serve (stage 2) vs Postfix with
sluice auth, policy and milter (stage 0), both relaying to one smtp-sink.

  --rounds N      rounds; each runs both systems once, order alternating (default 3)
  --messages N    messages per run (default 2000)
  --sessions N    parallel clients (default 20)
  --size BYTES    message size (default 2048)
  --resume        clients offer the TLS session of their previous connection (default: full handshakes)
  --profile DIR   write a CPU profile of each sluice serve run into DIR (node --cpu-prof)
  --systems LIST  comma-separated subset of ${SYSTEMS.join(',')} (default both)
  --dir PATH      parent of the scratch dirs (default <repo>/.bench)
  --timeout SECS  limit for each wait (default 300)
  -h, --help      this text`;

interface Options {
  rounds: number;
  messages: number;
  sessions: number;
  size: number;
  resume: boolean;
  profileDir: string | undefined;
  systems: System[];
  dir: string;
  timeoutMs: number;
}

interface RunResult {
  system: System;
  round: number;
  rate: number;
  p50: number;
  p99: number;
  cpuMsPerMessage: number;
  /** The bench's own CPU (the clients) per message: near a core per message rate, it sets the pace. */
  clientCpuMsPerMessage: number;
  resumed: number;
  handshakes: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      messages: { type: 'string', default: '2000' },
      sessions: { type: 'string', default: '20' },
      size: { type: 'string', default: '2048' },
      resume: { type: 'boolean', default: false },
      profile: { type: 'string' },
      systems: { type: 'string', default: SYSTEMS.join(',') },
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
  for (const s of systems)
    if (!(SYSTEMS as readonly string[]).includes(s)) throw new Error(`unknown system "${s}"\n\n${USAGE}`);
  return {
    rounds: positive('rounds', values.rounds),
    messages: positive('messages', values.messages),
    sessions: positive('sessions', values.sessions),
    size: positive('size', values.size),
    resume: values.resume,
    profileDir: values.profile ? path.resolve(values.profile) : undefined,
    systems: systems as System[],
    dir: path.resolve(values.dir),
    timeoutMs: positive('timeout', values.timeout) * 1000,
  };
}

/** A message of about `size` bytes carrying an X-MSYS-API header (campaign and metadata). */
function message(size: number): Buffer {
  const header =
    `From: ${FROM}\r\nTo: you@sluice-bench.example\r\nSubject: submission bench\r\n` +
    'X-MSYS-API: {"campaign_id":"bench","metadata":{"source":"submission"}}\r\n\r\n';
  const line = `${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}\r\n`;
  return Buffer.from(header + line.repeat(Math.max(1, Math.ceil((size - header.length) / line.length))));
}

async function runOnce(
  system: System,
  round: number,
  options: Options,
  scratch: string,
  tls: { cert: string; key: string },
): Promise<RunResult> {
  const sink = await startSmtpSink({});
  let started: SubmissionSystem | undefined;
  try {
    started =
      system === 'stage2'
        ? await startStage2(scratch, tls, sink.port, options.profileDir)
        : await startStage0(scratch, tls, sink.port);
    const mta = started;
    const body = message(options.size);
    const cpuBefore = mta.cpuMs();
    const clientBefore = process.cpuUsage();
    const start = performance.now();
    const stats = await injectWithStats({
      port: mta.port,
      sessions: options.sessions,
      messages: options.messages,
      rcpts: () => ['you@sluice-bench.example'],
      body: () => body,
      from: FROM,
      timeoutMs: options.timeoutMs,
      reconnect: true,
      starttls: true,
      auth: { user: 'SMTP_Injection', pass: mta.key },
      resumeTls: options.resume,
    });
    const arrived = await sink.waitForCount(options.messages, options.timeoutMs);
    await mta.drained(options.timeoutMs);
    const cpuMs = mta.cpuMs() - cpuBefore;
    const client = process.cpuUsage(clientBefore);
    if (sink.count() !== options.messages)
      throw new Error(`${system}: the sink counted ${sink.count()}, expected exactly ${options.messages}`);
    return {
      system,
      round,
      rate: options.messages / ((arrived - start) / 1000),
      p50: percentile(stats.latencies, 50),
      p99: percentile(stats.latencies, 99),
      cpuMsPerMessage: cpuMs / options.messages,
      clientCpuMsPerMessage: (client.user + client.system) / 1000 / options.messages,
      resumed: stats.resumed,
      handshakes: stats.handshakes,
    };
  } catch (error) {
    throw new Error(`${system}: ${(error as Error).message}\n${started?.logTail() ?? ''}`);
  } finally {
    await started?.stop();
    await sink.stop();
  }
}

function report(results: RunResult[], options: Options): string {
  const lines = [
    `Submission benchmark: ${options.messages} messages of ${options.size} B, each on a new connection with ` +
      `STARTTLS and AUTH PLAIN, ${options.sessions} parallel clients, ${options.rounds} rounds, medians over rounds; ` +
      `TLS ${options.resume ? 'resumption offered by clients' : 'full handshakes (clients offer no session)'}; ` +
      `Node ${process.version}, ${os.cpus().length} CPUs (shared with other work on this machine; load average ` +
      `at the end ${os
        .loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')})`,
    '',
    '| system | median msg/s | min | max | connect→250 p50 ms | p99 ms | CPU ms/msg (all its processes) | clients CPU ms/msg | TLS resumed | per-round msg/s |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  const medians = new Map<System, number>();
  const cpu = new Map<System, number>();
  for (const system of options.systems) {
    const runs = results.filter((r) => r.system === system);
    if (runs.length === 0) continue;
    const rates = runs.map((r) => r.rate);
    medians.set(system, median(rates));
    cpu.set(system, median(runs.map((r) => r.cpuMsPerMessage)));
    const resumed = runs.reduce((n, r) => n + r.resumed, 0);
    const handshakes = runs.reduce((n, r) => n + r.handshakes, 0);
    lines.push(
      `| ${TITLE[system]} | ${median(rates).toFixed(0)} | ${Math.min(...rates).toFixed(0)} | ` +
        `${Math.max(...rates).toFixed(0)} | ${median(runs.map((r) => r.p50)).toFixed(1)} | ` +
        `${median(runs.map((r) => r.p99)).toFixed(1)} | ${cpu.get(system)!.toFixed(2)} | ` +
        `${median(runs.map((r) => r.clientCpuMsPerMessage)).toFixed(2)} | ${resumed}/${handshakes} | ` +
        `${rates.map((r) => r.toFixed(0)).join(', ')} |`,
    );
  }
  const [two, zero] = [medians.get('stage2'), medians.get('stage0')];
  if (two !== undefined && zero !== undefined)
    lines.push(
      '',
      `stage 2 / stage 0 (medians): ${(two / zero).toFixed(2)}× msg/s (target ≥ 2), ` +
        `${(cpu.get('stage0')! / cpu.get('stage2')!).toFixed(2)}× less CPU per message`,
    );
  lines.push(
    '',
    'CPU: user+system from /proc over the run (first connect until the queue is empty): stage 2 the sluice serve ' +
      'process; stage 0 every Postfix process (reaped ones included) plus sluice auth, policy and milter. ' +
      'The clients (this bench process: nodemailer, one TLS handshake per message) are shown apart; the sink is not counted.',
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const binary of ['/usr/sbin/smtp-sink', '/usr/sbin/postfix'])
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`make system-deps\``);
  mkdirSync(options.dir, { recursive: true });
  const scratch = mkdtempSync(path.join(options.dir, 'submission-'));
  // Postfix daemons run as the postfix user and open absolute paths below here.
  chmodSync(scratch, 0o755);
  const unregister = onProcessExit(() => rmSync(scratch, { recursive: true, force: true }));
  const results: RunResult[] = [];
  try {
    const tls = await tlsFiles(scratch);
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? options.systems : [...options.systems].reverse();
      for (const system of order) {
        const result = await runOnce(system, round, options, scratch, tls);
        results.push(result);
        process.stderr.write(
          `round ${round} ${system}: ${result.rate.toFixed(0)} msg/s, connect→250 p50 ${result.p50.toFixed(1)} ms ` +
            `p99 ${result.p99.toFixed(1)} ms, CPU ${result.cpuMsPerMessage.toFixed(2)} ms/msg ` +
            `(clients ${result.clientCpuMsPerMessage.toFixed(2)}), ` +
            `TLS resumed ${result.resumed}/${result.handshakes}\n`,
        );
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    unregister();
  }
  console.log(report(results, options));
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/submission: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
