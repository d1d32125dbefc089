/**
 * CLI start-up benchmark: how long `sluice --help` and `sluice keys list` take next to a bare
 * `node -e ''` on the same machine in the same run (the reference: a command line cannot start
 * faster than node itself), and how long `make run` takes to answer on its SMTP port when nothing
 * changed since the last compile, next to `sluice serve` started directly. Runs are interleaved
 * (one of each command per round) so a noisy neighbour weighs on all of them alike; the table
 * shows medians, min and max, and each command's median as a ratio of bare node's. Progress on
 * stderr, the markdown table on stdout. Scratch data dirs are removed, servers stopped, also on ^C.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { freePort } from '../test/harness/net.js';

const USAGE = `usage: bench/cli [options]

Start-up time of the sluice command line against a bare node, and of make run.

  --runs N          runs of each one-shot command (default 21)
  --serve-runs N    runs of make run and sluice serve (default 5; 0 leaves them out)
  -h, --help        this text`;

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const SLUICE = path.join(ROOT, 'bin/sluice.js');

interface Row {
  name: string;
  /** Median wanted, as a multiple of the reference's median (a target the issue set), if any. */
  target?: string;
  times: number[];
  /** A server start (its own target, not compared with bare node). */
  server?: boolean;
  /** CPU time (user + system) the server's processes used up to the greeting, per run. */
  cpu?: number[];
}

/** CPU ms used so far by a process and its descendants (Linux /proc; 100 ticks a second). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = (Number(fields[11]) + Number(fields[12])) * 10;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return own + (children ? children.split(' ').reduce((sum, child) => sum + cpuMs(Number(child)), 0) : 0);
  } catch {
    return 0;
  }
}

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '21' },
      'serve-runs': { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const count = (name: string, value: string, min: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  return { runs: count('runs', values.runs, 1), serveRuns: count('serve-runs', values['serve-runs'], 0) };
}

/** Wall time of one run, spawn to exit, in ms; a failed run is an error, not a figure. */
function timeRun(argv: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const elapsed = performance.now() - started;
      if (code === 0) resolve(elapsed);
      else reject(new Error(`node ${argv.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

/** Resolves once host:port answers with an SMTP greeting; polls every 5 ms. */
async function greeting(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString('latin1').startsWith('220'));
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`no SMTP greeting on port ${port}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const running = new Set<ChildProcess>();

function stopGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      resolve();
    }
  });
}

/**
 * Spawn to SMTP greeting of a server started by `command`: wall ms, and the CPU ms its processes
 * used (less sensitive to a busy machine than the wall time); then stops it (its process group).
 */
async function timeStart(
  command: string,
  args: string[],
  port: number,
): Promise<{ wall: number; cpu: number }> {
  const started = performance.now();
  const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    await Promise.race([
      greeting(port, started + 60_000),
      new Promise((_, reject) =>
        child.once('exit', (code) => reject(new Error(`${command} exited ${code}: ${output}`))),
      ),
    ]);
    return { wall: performance.now() - started, cpu: cpuMs(child.pid!) };
  } finally {
    await stopGroup(child);
    running.delete(child);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function table(rows: Row[], reference: Row): string {
  const ref = median(reference.times);
  const lines = [
    '| command | runs | median ms | min ms | max ms | × bare node | CPU ms (median) | target |',
    '| ------- | ---: | --------: | -----: | -----: | ----------: | --------------: | ------ |',
  ];
  for (const row of rows) {
    const m = median(row.times);
    const ratio = row.server ? '' : (m / ref).toFixed(2);
    const cpu = row.cpu?.length ? median(row.cpu).toFixed(0) : '';
    lines.push(
      `| ${row.name} | ${row.times.length} | ${m.toFixed(0)} | ${Math.min(...row.times).toFixed(0)} | ${Math.max(...row.times).toFixed(0)} | ${ratio} | ${cpu} | ${row.target ?? ''} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { runs, serveRuns } = options();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-cli-'));
  const cleanup = () => {
    for (const child of running) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {}
    }
    rmSync(scratch, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const dataDir = path.join(scratch, 'data');
    const keys = spawnSync(
      process.execPath,
      [SLUICE, 'keys', 'create', '--label', 'bench', '--grant', 'smtp/inject', '-o', `data_dir=${dataDir}`],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (keys.status !== 0) throw new Error(`keys create failed: ${keys.stderr}`);
    const bare: Row = { name: "`node -e ''`", times: [] };
    const commands: Array<{ row: Row; argv: string[] }> = [
      { row: bare, argv: ['-e', ''] },
      { row: { name: '`sluice --help`', target: '≤ 2×', times: [] }, argv: [SLUICE, '--help'] },
      {
        row: { name: '`sluice keys list`', target: '≤ 2×', times: [] },
        argv: [SLUICE, 'keys', 'list', '-o', `data_dir=${dataDir}`],
      },
    ];
    // One untimed round first: the files are then in the page cache for every timed run.
    for (const { argv } of commands) await timeRun(argv);
    for (let i = 0; i < runs; i++) {
      for (const { row, argv } of commands) row.times.push(await timeRun(argv));
      process.stderr.write(`\rone-shot commands: round ${i + 1}/${runs}`);
    }
    process.stderr.write('\n');
    const rows = commands.map((c) => c.row);

    if (serveRuns > 0) {
      // make run with nothing to do: the compile stamp is made current first (untimed).
      const compiled = spawnSync('make', ['--no-print-directory', 'dist/src/.compiled'], {
        cwd: ROOT,
        encoding: 'utf8',
      });
      if (compiled.status !== 0) throw new Error(`make dist/src/.compiled failed: ${compiled.stderr}`);
      const make: Row = {
        name: '`make run` (nothing changed) to SMTP greeting',
        target: '< 2 s',
        times: [],
        server: true,
        cpu: [],
      };
      const serve: Row = { name: '`sluice serve` to SMTP greeting', times: [], server: true, cpu: [] };
      for (let i = 0; i < serveRuns; i++) {
        const port = await freePort();
        const overrides = [
          `data_dir=${dataDir}`,
          `listen.smtp=127.0.0.1:${port}`,
          'listen.submission=null',
          'listen.http=null',
          'admin.socket=null',
        ].flatMap((o) => ['-o', o]);
        const viaMake = await timeStart(
          'make',
          ['--no-print-directory', 'run', `ARGS=${overrides.join(' ')}`],
          port,
        );
        make.times.push(viaMake.wall);
        make.cpu!.push(viaMake.cpu);
        const direct = await timeStart(process.execPath, [SLUICE, 'serve', ...overrides], port);
        serve.times.push(direct.wall);
        serve.cpu!.push(direct.cpu);
        process.stderr.write(`\rservers: round ${i + 1}/${serveRuns}`);
      }
      process.stderr.write('\n');
      rows.push(make, serve);
    }
    const load = os.loadavg().map((l) => l.toFixed(2));
    console.log(table(rows, bare));
    console.log(
      `\nnode ${process.version}, ${os.cpus().length} CPUs, load average ${load.join(' ')} at the end of the run`,
    );
  } finally {
    cleanup();
  }
}

await main();
