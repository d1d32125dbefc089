/**
 * Milter benchmark: what `sluice milter` costs Postfix. The same smtp-source workload (default 2000
 * copies of one 30 KB HTML message with 30 links and an X-MSYS-API header asking for open and click tracking,
 * over 20 concurrent sessions) goes through a scratch Postfix relaying to one smtp-sink, once
 * without a milter and once with `smtpd_milters` = `sluice milter` (which then rewrites every
 * link and adds the pixels through replace-body), alternating for several rounds. Reports
 * end-to-end messages/s (smtp-source start → the sink's counter reaching N), the with/without
 * ratio of medians (target ≥ 0.85), the same milter with tracking off (what the protocol and the
 * events cost alone), the milter's CPU per message, and its time at end of message (from the
 * EOM command to its reply, from its "injection recorded" log line) as p50/p99 over all rounds. Every
 * process it starts is stopped and every scratch dir removed, also on failure or ^C.
 * Run it with `make bench-milter` or `bench/milter --help`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { onProcessExit, startPostfix } from '../test/harness/postfix.js';
import { type SmtpSink, startSmtpSink } from '../test/harness/smtp-sink.js';
import { type CpuSnapshot, diff, snapshot } from './milter-cpu.js';
import { startBenchMilter, type Transport } from './milter-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SMTP_SOURCE = '/usr/sbin/smtp-source';
/** postfix+milter tracks every message; postfix+milter-untracked is the same milter with tracking off. */
const SYSTEMS = ['postfix', 'postfix+milter', 'postfix+milter-untracked'] as const;
type System = (typeof SYSTEMS)[number];

const USAGE = `usage: bench/milter [options]

Postfix relaying to smtp-sink, without a milter and with sluice milter tracking every message.

  --rounds N      rounds; each runs both systems once, order alternating (default 3)
  --messages N    messages per run (default 2000)
  --sessions N    concurrent SMTP sessions of smtp-source (default 20)
  --size BYTES    approximate size of the HTML message (default 30720)
  --links N       links in it, each tracked (default 30)
  --transport T   how Postfix reaches the milter: unix (a socket file, default) or inet (127.0.0.1)
  --profile DIR   write a CPU profile of each milter run into DIR (node --cpu-prof; unix transport)
  --dir PATH      parent of the scratch dirs (default <repo>/.bench)
  --timeout SECS  limit for each wait (default 300)
  -h, --help      this text`;

interface Options {
  rounds: number;
  messages: number;
  sessions: number;
  size: number;
  links: number;
  transport: Transport;
  profileDir: string | undefined;
  dir: string;
  timeoutMs: number;
}

interface RunResult {
  system: System;
  round: number;
  seconds: number;
  rate: number;
  eomMs: number[];
  /** The milter's CPU time (user + system) per message. */
  cpuMs?: number;
  /** CPU ms per message by part (Postfix, milter, sink, smtp-source) and the machine's busy ms. */
  cpu: CpuSnapshot;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '3' },
      messages: { type: 'string', default: '2000' },
      sessions: { type: 'string', default: '20' },
      size: { type: 'string', default: '30720' },
      links: { type: 'string', default: '30' },
      transport: { type: 'string', default: 'unix' },
      profile: { type: 'string' },
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
  if (values.transport !== 'unix' && values.transport !== 'inet')
    throw new Error(`--transport is unix or inet, got "${values.transport}"\n\n${USAGE}`);
  return {
    transport: values.transport,
    profileDir: values.profile ? path.resolve(values.profile) : undefined,
    rounds: positive('rounds', values.rounds),
    messages: positive('messages', values.messages),
    sessions: positive('sessions', values.sessions),
    size: positive('size', values.size),
    links: positive('links', values.links),
    dir: path.resolve(values.dir),
    timeoutMs: positive('timeout', values.timeout) * 1000,
  };
}

/** A newsletter-like HTML message of about `size` bytes with `links` links spread through it, tracking asked for. */
export function htmlMessage(size: number, links: number, tracking = true): string {
  const head = [
    'From: "Shop" <bench@sluice-bench.example>',
    'To: sink@sluice-bench.example',
    'Subject: milter bench',
    tracking
      ? 'X-MSYS-API: {"campaign_id":"bench","options":{"open_tracking":true,"click_tracking":true}}'
      : 'X-MSYS-API: {"campaign_id":"bench"}',
    'MIME-Version: 1.0',
    'Content-Type: text/html; charset=utf-8',
    '',
    '<html><head><title>News</title></head><body><table width="600" cellpadding="0" cellspacing="0">',
  ].join('\n');
  const filler =
    '<tr><td style="font-family:Arial,sans-serif;font-size:14px;line-height:20px;color:#333333;padding:8px">' +
    'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.</td></tr>';
  const tail = '</table></body></html>';
  const rows: string[] = [];
  let length = head.length + tail.length;
  while (length < size - filler.length) {
    rows.push(filler);
    length += filler.length + 1;
  }
  // One link in every n-th row, so they are spread over the whole body.
  const step = Math.max(1, Math.floor(rows.length / links));
  for (let i = 0, n = 0; i < rows.length && n < links; i += step, n++)
    rows[i] = rows[i]!.replace(
      'tempor',
      `<a href="https://shop.example.com/p/${n}?utm_source=news">tempor</a>`,
    );
  return `${head}\n${rows.join('\n')}\n${tail}\n`;
}

function inject(port: number, file: string, options: Options): Promise<void> {
  const args = ['-s', String(options.sessions), '-m', String(options.messages), '-F', file, '-d'];
  args.push('-M', 'source.sluice-bench.example', '-f', 'bench@sluice-bench.example');
  args.push('-t', 'sink@sluice-bench.example', `127.0.0.1:${port}`);
  return new Promise((resolve, reject) => {
    const child = spawn(SMTP_SOURCE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const unregister = onProcessExit(() => child.kill('SIGKILL'));
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`smtp-source did not finish in ${options.timeoutMs} ms:\n${output}`));
    }, options.timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      unregister();
      if (code === 0) resolve();
      else reject(new Error(`smtp-source exited with ${code ?? signal}:\n${output}`));
    });
  });
}

async function runOnce(
  system: System,
  round: number,
  sink: SmtpSink,
  file: string,
  options: Options,
  scratch: string,
): Promise<RunResult> {
  const dataDir = mkdtempSync(path.join(scratch, 'milter-data-'));
  const milter =
    system !== 'postfix'
      ? await startBenchMilter(options.transport, dataDir, scratch, options.profileDir)
      : null;
  const unregisterMilter = milter ? onProcessExit(() => milter.kill()) : () => {};
  const postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    baseDir: scratch,
    extraMainCf: {
      myhostname: 'sluice-bench.localdomain',
      ...(milter
        ? {
            smtpd_milters: milter.endpoint,
            milter_default_action: 'tempfail',
            milter_protocol: '6',
          }
        : {}),
    },
  });
  try {
    const target = sink.count() + options.messages;
    const pids = {
      postfixMaster: postfix.masterPid,
      sink: sink.pid,
      ...(milter?.pid ? { milter: milter.pid } : {}),
    };
    const before = snapshot(pids);
    const start = performance.now();
    await inject(postfix.port, file, options);
    const arrived = await sink.waitForCount(target, options.timeoutMs);
    await postfix.waitForEmptyQueue(options.timeoutMs);
    const spent = diff(before, snapshot(pids));
    if (sink.count() !== target)
      throw new Error(`${system}: sink counted ${sink.count()}, expected ${target}`);
    const seconds = (arrived - start) / 1000;
    // The milter logs each message after its reply: the last lines may still be in the pipe.
    for (let waited = 0; milter && waited < 10_000; waited += 50) {
      if (eomTimes(milter.output()).length >= options.messages) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const eomMs = milter ? eomTimes(milter.output()) : [];
    const cpu = milter?.pid ? cpuSeconds(milter.pid) : undefined;
    if (milter && eomMs.length !== options.messages)
      throw new Error(`the milter answered ${eomMs.length} EOMs for ${options.messages} messages`);
    const perMessage = Object.fromEntries(
      Object.entries(spent).map(([k, v]) => [k, v / options.messages]),
    ) as unknown as CpuSnapshot;
    const result: RunResult = {
      system,
      round,
      seconds,
      rate: options.messages / seconds,
      eomMs,
      cpu: perMessage,
    };
    if (cpu !== undefined) result.cpuMs = (cpu * 1000) / options.messages;
    return result;
  } catch (error) {
    const tail = postfix.log().split('\n').slice(-20).join('\n');
    throw new Error(
      `${(error as Error).message}\nPostfix maillog tail:\n${tail}\n${milter?.output().slice(-3000) ?? ''}`,
    );
  } finally {
    await postfix.stop();
    await milter?.stop();
    unregisterMilter();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** utime + stime of a live process, in seconds (includes its start-up: a few hundred ms). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5), counted from the state (field 3) here; clock ticks are 100 Hz on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

function eomTimes(log: string): number[] {
  const out: number[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"eom_ms"')) continue;
    out.push((JSON.parse(line) as { eom_ms: number }).eom_ms);
  }
  return out;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

function report(results: RunResult[], options: Options, bytes: number): string {
  const fmt = (n: number) => n.toFixed(0);
  const lines = [
    `Milter benchmark: ${options.messages} messages of ${bytes} B (HTML with ${options.links} links, ` +
      `open+click tracking asked) over ` +
      `${options.sessions} sessions, ${options.rounds} rounds, milter over ${options.transport}; Node ${process.version}, ${os.cpus().length} CPUs`,
    '',
    '| system | median msg/s | min | max | per-round msg/s |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  const medians = new Map<System, number>();
  for (const system of SYSTEMS) {
    const rates = results.filter((r) => r.system === system).map((r) => r.rate);
    medians.set(system, median(rates));
    lines.push(
      `| ${system} | ${fmt(median(rates))} | ${fmt(Math.min(...rates))} | ${fmt(Math.max(...rates))} | ${rates.map(fmt).join(', ')} |`,
    );
  }
  const ratio = medians.get('postfix+milter')! / medians.get('postfix')!;
  const untracked = medians.get('postfix+milter-untracked')! / medians.get('postfix')!;
  lines.push('', `with milter (tracking) / Postfix alone (medians): ${ratio.toFixed(2)} (target ≥ 0.85)`);
  lines.push(`with milter (no tracking) / Postfix alone (medians): ${untracked.toFixed(2)}`);
  lines.push(
    '',
    'CPU per message (ms, user+sys, median over rounds; "machine" also counts other work on the box):',
    '',
    '| system | Postfix | milter | smtp-sink | smtp-source | sum | machine busy | machine busy × msg/s (ms/s) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const system of SYSTEMS) {
    const runs = results.filter((r) => r.system === system);
    const part = (k: keyof CpuSnapshot) => median(runs.map((r) => r.cpu[k]));
    const sum = median(runs.map((r) => r.cpu.postfix + r.cpu.milter + r.cpu.sink + r.cpu.source));
    const load = median(runs.map((r) => r.cpu.machine * r.rate));
    lines.push(
      `| ${system} | ${part('postfix').toFixed(2)} | ${part('milter').toFixed(2)} | ${part('sink').toFixed(2)} | ` +
        `${part('source').toFixed(2)} | ${sum.toFixed(2)} | ${part('machine').toFixed(2)} | ${load.toFixed(0)} |`,
    );
  }
  const cpu = results
    .filter((r) => r.system === 'postfix+milter' && r.cpuMs !== undefined)
    .map((r) => r.cpuMs!);
  if (cpu.length > 0)
    lines.push(
      `milter CPU per tracked message incl. its start-up (user+sys, median over rounds): ${median(cpu).toFixed(2)} ms`,
    );
  const eom = results.filter((r) => r.system === 'postfix+milter').flatMap((r) => r.eomMs);
  lines.push(
    `milter time at end of a tracked message over ${eom.length} messages: p50 ${quantile(eom, 0.5).toFixed(2)} ms, ` +
      `p99 ${quantile(eom, 0.99).toFixed(2)} ms, max ${Math.max(...eom).toFixed(2)} ms`,
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const binary of [SMTP_SOURCE, '/usr/sbin/smtp-sink', '/usr/sbin/postfix']) {
    if (!existsSync(binary)) throw new Error(`${binary} is missing: run \`make system-deps\``);
  }
  mkdirSync(options.dir, { recursive: true });
  const scratch = mkdtempSync(path.join(options.dir, 'milter-'));
  chmodSync(scratch, 0o755);
  const unregister = onProcessExit(() => rmSync(scratch, { recursive: true, force: true }));
  const files = {
    tracked: path.join(scratch, 'tracked.eml'),
    untracked: path.join(scratch, 'untracked.eml'),
  };
  const text = htmlMessage(options.size, options.links);
  writeFileSync(files.tracked, text);
  writeFileSync(files.untracked, htmlMessage(options.size, options.links, false));
  const sink = await startSmtpSink({});
  const results: RunResult[] = [];
  try {
    for (let round = 1; round <= options.rounds; round++) {
      const order = round % 2 === 1 ? SYSTEMS : [...SYSTEMS].reverse();
      for (const system of order) {
        const file = system === 'postfix+milter-untracked' ? files.untracked : files.tracked;
        const result = await runOnce(system, round, sink, file, options, scratch);
        results.push(result);
        process.stderr.write(
          `round ${round} ${system}: ${result.rate.toFixed(0)} msg/s (${result.seconds.toFixed(2)} s)` +
            `${result.eomMs.length ? `, EOM p99 ${quantile(result.eomMs, 0.99).toFixed(2)} ms` : ''}\n`,
        );
      }
    }
  } finally {
    await sink.stop();
    rmSync(scratch, { recursive: true, force: true });
    unregister();
  }
  console.log(report(results, options, Buffer.byteLength(text)));
  console.log(
    `load average at the end: ${os
      .loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/milter: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
