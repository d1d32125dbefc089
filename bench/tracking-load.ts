/**
 * The tracking endpoint under load: autocannon (in this process, one core) against a server
 * child (tracking-server.ts, the other core), GET /f/TOKEN with redirects not followed, over 1,000
 * distinct signed links. Two servers side by side, in an order that flips every round:
 *  - `sluice`: the real tracking server (verify the token, look up the injection — cached —,
 *    record the click through BatchedEventStore into the embedded store, 302), as `sluice serve`
 *    runs it;
 *  - `sluice-main-thread`: the same, with the batches committed on the server's main thread (how
 *    serve ran before the worker thread);
 *  - `reference`: a bare fastify route answering 302 without verifying or recording.
 * Every response must be a 302 and, for Sluice, every one must have left a click event (give or
 * take the requests in flight when a run stops): both are checked after each round. Per system: the medians over rounds of requests/s, p50 and p99.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import Database from 'better-sqlite3';
import { clickPaths } from './tracking-tokens.js';

export type System = 'sluice' | 'sluice-main-thread' | 'reference';

export interface LoadRound {
  system: System;
  rps: number;
  p50: number;
  p99: number;
  responses: number;
  clicksRecorded: number | null;
  /** Server CPU per request, µs: its main thread (what latency waits on) and the whole process. */
  mainCpuUs: number | null;
  processCpuUs: number | null;
  /** autocannon's (this process's) CPU over the run, in % of one core: near 100 means it caps the figure. */
  loaderCpu: number;
}

/** utime + stime of a process or thread from /proc, in clock ticks (100 per second); null off Linux. */
function cpuTicks(file: string): number | null {
  try {
    const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** Waits until the click count stops moving (a worker thread may still be committing the warm-up). */
async function settledClicks(dataDir: string): Promise<number> {
  let last = countClicks(dataDir);
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    const now = countClicks(dataDir);
    if (now === last) return now;
    last = now;
  }
  return last;
}

const SERVER = path.join(import.meta.dirname, 'tracking-server.js');

async function startServer(
  mode: string,
  dataDir: string,
  secret: string,
): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, [SERVER, mode, dataDir], {
    env: { ...process.env, SLUICE_BENCH_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start within 30 s`)), 30_000);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = out.match(/listening (\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`${mode} server exited with ${code}`)));
  });
  return { child, address };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function countClicks(dataDir: string): number {
  const db = new Database(path.join(dataDir, 'sluice.db'), { readonly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM events WHERE type = 'click'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function hammer(address: string, paths: string[], connections: number, seconds: number) {
  let next = 0;
  const result = await autocannon({
    url: `http://${address}`,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({ ...request, path: paths[next++ % paths.length]! }),
      },
    ],
  });
  const responses = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  if (result.errors > 0 || result.timeouts > 0)
    throw new Error(`${result.errors} errors, ${result.timeouts} timeouts`);
  if (result['3xx'] !== responses)
    throw new Error(`${responses - result['3xx']} of ${responses} responses were not 302`);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    responses,
    sent: result.requests.sent,
  };
}

export async function loadBench(
  options: { rounds: number; seconds: number; connections: number },
  log: (s: string) => void,
): Promise<LoadRound[]> {
  const secret = randomBytes(24).toString('base64url');
  const paths = clickPaths(secret);
  const rounds: LoadRound[] = [];
  const systems: System[] = ['sluice', 'sluice-main-thread', 'reference'];
  for (let round = 0; round < options.rounds; round++) {
    for (const system of round % 2 === 0 ? systems : [...systems].reverse()) {
      const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-tracking-'));
      const { child, address } = await startServer(system, dataDir, secret);
      try {
        await hammer(address, paths, options.connections, 1); // warm-up, not counted
        await new Promise((resolve) => setTimeout(resolve, 1_000)); // let its last requests finish
        const records = system !== 'reference';
        const before = records ? await settledClicks(dataDir) : 0;
        const procFile = `/proc/${child.pid}/stat`;
        const mainFile = `/proc/${child.pid}/task/${child.pid}/stat`;
        const [proc0, main0, own0] = [cpuTicks(procFile), cpuTicks(mainFile), process.cpuUsage()];
        const r = await hammer(address, paths, options.connections, options.seconds);
        const [proc1, main1, own] = [cpuTicks(procFile), cpuTicks(mainFile), process.cpuUsage(own0)];
        const perRequest = (a: number | null, b: number | null) =>
          a === null || b === null ? null : ((b - a) * 10_000) / r.responses;
        await stopServer(child);
        const clicksRecorded = records ? countClicks(dataDir) - before : null;
        // Requests sent but unanswered when autocannon stops are still recorded by the server.
        if (clicksRecorded !== null && (clicksRecorded < r.responses || clicksRecorded > r.sent))
          throw new Error(`${r.responses} redirects (${r.sent} sent) but ${clicksRecorded} click events`);
        rounds.push({
          system,
          rps: r.rps,
          p50: r.p50,
          p99: r.p99,
          responses: r.responses,
          clicksRecorded,
          mainCpuUs: perRequest(main0, main1),
          processCpuUs: perRequest(proc0, proc1),
          loaderCpu: ((own.user + own.system) / 1e6 / options.seconds) * 100,
        });
        log(
          `load round ${round + 1}/${options.rounds}: ${system} ${r.rps.toFixed(0)} req/s, p99 ${r.p99} ms`,
        );
      } finally {
        await stopServer(child);
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
  }
  return rounds;
}
