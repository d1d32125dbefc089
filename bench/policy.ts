/**
 * Policy benchmark: requests/s and p50/p99 latency of `sluice policy` against postfwd (Debian
 * package; postfwd1, the single-process server) running an equivalent rate rule, in the same run,
 * over 10 and 100 persistent connections. Each connection plays Postfix's smtpd: one request at a
 * time, RCPT then END-OF-MESSAGE of a fresh instance, client addresses cycling over 256 values.
 * Both servers limit messages per client address (a limit high enough never to trigger). With
 * `--store embedded,redis` Sluice runs once per store backend (redis: a harness redis-server on a
 * free loopback port, no persistence), so the counters' cost on Redis is seen beside the in-memory
 * ones. `--baseline DIR` runs another built checkout's `sluice policy` beside this one, for a before/after in one run.
 * With `--auth` every request carries an API key (sluice checks it; postfwd ignores it). Every system is measured `--rounds` times, interleaved, and the table shows medians.
 * Prints a markdown table on stdout (progress on stderr); stops every process it starts, also on failure.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { freePort, waitForPort } from '../test/harness/net.js';
import { onProcessExit } from '../test/harness/postfix.js';
import { type RedisServer, startRedis } from '../test/harness/redis.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const POSTFWD = '/usr/sbin/postfwd1';
const USAGE =
  'usage: bench/policy [--seconds N] [--rounds N] [--connections 10,100] [--systems sluice,postfwd] [--store embedded,redis] [--auth] [--baseline DIR]';

interface Server {
  name: string;
  port: number;
  /** The sasl_username requests carry ('' : unauthenticated). */
  sasl: string;
  /** The server's process, and the redis-server behind it if any, whose CPU time is measured. */
  pids(): { server: number | null; redis: number | null };
  stop(): Promise<void>;
}

function spawnServer(
  name: string,
  file: string,
  args: string[],
  port: number,
  cwd: string,
  pidFile?: string,
): Promise<Server> {
  const child: ChildProcess = spawn(file, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  const collect = (c: Buffer) => {
    output += c.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  // Kill the whole group, and the daemon by its pid file: postfwd -d detaches into a session of its own.
  const kill = () => {
    const pids = [-child.pid!];
    if (pidFile && existsSync(pidFile)) pids.push(Number(readFileSync(pidFile, 'utf8').trim()));
    for (const pid of pids) {
      try {
        if (pid) process.kill(pid, 'SIGTERM');
      } catch {}
    }
  };
  const unregister = onProcessExit(kill);
  return waitForPort(port, '127.0.0.1', 20_000).then(
    () => ({
      name,
      port,
      sasl: '',
      pids: () => ({
        server:
          pidFile && existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : (child.pid ?? null),
        redis: null,
      }),
      async stop() {
        kill();
        unregister();
        await new Promise((r) => setTimeout(r, 300));
      },
    }),
    (error: Error) => {
      kill();
      unregister();
      throw new Error(`${name} did not start: ${error.message}\n${output}`);
    },
  );
}

/** `baseline`: another built Sluice checkout, run beside this one (own data dir and key prefix). */
async function startSluicePolicy(
  dir: string,
  redis: RedisServer | null,
  auth: boolean,
  baseline: string | null = null,
): Promise<Server> {
  const port = await freePort();
  const store = redis ? 'redis' : 'embedded';
  const root = baseline ?? repoRoot;
  const suffix = baseline ? ', baseline' : '';
  const storeArgs = ['-o', `data_dir=${path.join(dir, `sluice-${store}${baseline ? '-baseline' : ''}`)}`];
  if (redis) storeArgs.push('-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`);
  if (redis && baseline) storeArgs.push('-o', 'store.redis.key_prefix=baseline:');
  const args = [path.join(root, 'bin/sluice.js'), 'policy', ...storeArgs];
  args.push('-o', `policy.listen=127.0.0.1:${port}`, '-o', 'log.level=warn');
  args.push('-o', 'policy.limits.client_address=[{window: 1m, messages: 1000000000}]');
  const server = await spawnServer(`sluice policy (${store}${suffix})`, process.execPath, args, port, dir);
  const own = server.pids;
  if (redis) server.pids = () => ({ server: own().server, redis: redis.pid() });
  if (auth) {
    // One API key with smtp/inject: every request then also checks the key (grants, valid_ips).
    const created = execFileSync(
      process.execPath,
      [
        path.join(root, 'bin/sluice.js'),
        'keys',
        'create',
        ...storeArgs,
        '--json',
        '--label',
        'bench',
        '--grant',
        'smtp/inject',
      ],
      { encoding: 'utf8' },
    );
    server.sasl = (JSON.parse(created) as { id: string }).id;
  }
  return server;
}

async function startPostfwd(dir: string): Promise<Server> {
  const port = await freePort();
  const rules = path.join(dir, 'postfwd.cf');
  writeFileSync(
    rules,
    'id=RATE; protocol_state==RCPT; action=rate(client_address/1000000000/60/DEFER_IF_PERMIT over limit)\n',
  );
  chmodSync(dir, 0o777);
  const args = ['-f', rules, '-i', '127.0.0.1', '-p', String(port), '--nodns', '--perfmon', '-d'];
  const pidFile = path.join(dir, 'postfwd.pid');
  args.push('--pidfile', pidFile);
  if (process.getuid?.() === 0) args.push('-u', 'nobody', '-g', 'nogroup');
  return spawnServer('postfwd', POSTFWD, args, port, dir, pidFile);
}

function request(n: number, state: 'RCPT' | 'END-OF-MESSAGE', instance: string, sasl: string): Buffer {
  return Buffer.from(
    `request=smtpd_access_policy\nprotocol_state=${state}\nprotocol_name=ESMTP\nclient_address=10.9.0.${n % 256}\n` +
      `client_name=unknown\nhelo_name=bench.example\nsender=app@bench.example\nrecipient=r${n}@example.net\n` +
      `recipient_count=${state === 'RCPT' ? 0 : 1}\ninstance=${instance}\nsize=2048\nsasl_username=${sasl}\n\n`,
  );
}

/** One connection asking one request at a time until `until`; returns each latency in µs. */
async function connection(server: Server, id: number, until: number, warmupEnd: number): Promise<number[]> {
  const socket = net.connect({ port: server.port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const latencies: number[] = [];
  let buffered = '';
  let wake: (() => void) | null = null;
  socket.on('data', (c: Buffer) => {
    buffered += c.toString();
    if (buffered.includes('\n\n')) wake?.();
  });
  const ask = async (bytes: Buffer) => {
    const started = process.hrtime.bigint();
    await new Promise<void>((resolve) => {
      wake = resolve;
      socket.write(bytes);
    });
    buffered = buffered.slice(buffered.indexOf('\n\n') + 2);
    if (Date.now() >= warmupEnd) latencies.push(Number(process.hrtime.bigint() - started) / 1000);
  };
  for (let n = 0; Date.now() < until; n++) {
    const instance = `${id}.${n}`;
    await ask(request(id * 7 + n, 'RCPT', instance, server.sasl));
    await ask(request(id * 7 + n, 'END-OF-MESSAGE', instance, server.sasl));
  }
  socket.destroy();
  return latencies;
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU time (µs, user + system) a process has used so far, from /proc; 0 without one. */
function cpuMicros(pid: number | null): number {
  if (pid === null) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * Throughput and latency, plus the CPU time the server (and its redis-server) spent per request
 * over the measured seconds: on a shared machine that is steadier than requests/s.
 */
async function measure(server: Server, connections: number, seconds: number) {
  const warmupEnd = Date.now() + 1000;
  const until = warmupEnd + seconds * 1000;
  let cpuStart = { server: 0, redis: 0 };
  const sampler = setTimeout(() => {
    const pids = server.pids();
    cpuStart = { server: cpuMicros(pids.server), redis: cpuMicros(pids.redis) };
  }, warmupEnd - Date.now());
  const all = (
    await Promise.all(Array.from({ length: connections }, (_, i) => connection(server, i, until, warmupEnd)))
  ).flat();
  clearTimeout(sampler);
  const pids = server.pids();
  const count = Math.max(1, all.length);
  const serverCpu = (cpuMicros(pids.server) - cpuStart.server) / count;
  const redisCpu = pids.redis === null ? null : (cpuMicros(pids.redis) - cpuStart.redis) / count;
  all.sort((a, b) => a - b);
  const pct = (p: number) => (all[Math.min(all.length - 1, Math.floor(all.length * p))] ?? 0) / 1000;
  return { rps: all.length / seconds, p50: pct(0.5), p99: pct(0.99), serverCpu, redisCpu };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function main() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      connections: { type: 'string', default: '10,100' },
      systems: { type: 'string', default: 'sluice,postfwd' },
      store: { type: 'string', default: 'embedded,redis' },
      auth: { type: 'boolean', default: false },
      baseline: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(`${USAGE}\n`);
  const seconds = Number(values.seconds);
  const rounds = Number(values.rounds);
  const counts = values.connections.split(',').map(Number);
  const systems = values.systems.split(',');
  const stores = values.store.split(',');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-policy-'));
  const servers: Server[] = [];
  let redis: RedisServer | null = null;
  const samples = new Map<string, Array<Awaited<ReturnType<typeof measure>>>>();
  try {
    for (const system of systems) {
      if (system === 'postfwd') servers.push(await startPostfwd(dir));
      else
        for (const store of stores) {
          if (store === 'redis') redis ??= await startRedis();
          const on = store === 'redis' ? redis : null;
          servers.push(await startSluicePolicy(dir, on, values.auth === true));
          if (values.baseline)
            servers.push(
              await startSluicePolicy(dir, on, values.auth === true, path.resolve(values.baseline)),
            );
        }
    }
    // Rounds interleave the systems, so a noisy neighbour on the machine hits all of them alike.
    for (let round = 1; round <= rounds; round++)
      for (const server of servers)
        for (const connections of counts) {
          process.stderr.write(
            `round ${round}/${rounds}: ${server.name}, ${connections} connections, ${seconds}s...\n`,
          );
          const key = `${server.name}|${connections}`;
          samples.set(key, [...(samples.get(key) ?? []), await measure(server, connections, seconds)]);
        }
  } finally {
    for (const server of servers) await server.stop();
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [...samples].map(([key, runs]) => {
    const [system, connections] = key.split('|');
    return {
      system: system!,
      connections: Number(connections),
      rps: median(runs.map((r) => r.rps)),
      p50: median(runs.map((r) => r.p50)),
      p99: median(runs.map((r) => r.p99)),
      serverCpu: median(runs.map((r) => r.serverCpu)),
      redisCpu: runs[0]?.redisCpu === null ? null : median(runs.map((r) => r.redisCpu ?? 0)),
    };
  });
  const lines = [
    `Medians of ${rounds} rounds of ${seconds}s each; ${values.auth ? 'every request carries an API key (sasl_username)' : 'unauthenticated requests'}.`,
    '',
    '| system | connections | requests/s | p50 ms | p99 ms | server CPU µs/request | redis-server CPU µs/request |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of rows)
    lines.push(
      `| ${r.system} | ${r.connections} | ${Math.round(r.rps)} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${Math.round(r.serverCpu)} | ${r.redisCpu === null ? '' : Math.round(r.redisCpu)} |`,
    );
  lines.push('');
  const find = (system: string, connections: number) =>
    rows.find((r) => r.system === system && r.connections === connections);
  for (const connections of counts) {
    const p = find('postfwd', connections);
    const e = find('sluice policy (embedded)', connections);
    const r = find('sluice policy (redis)', connections);
    for (const s of [e, r])
      if (s && p)
        lines.push(
          `- ${connections} connections: ${s.system}/postfwd requests/s = ${(s.rps / p.rps).toFixed(2)}x`,
        );
    if (e && r)
      lines.push(`- ${connections} connections: redis/embedded requests/s = ${(r.rps / e.rps).toFixed(2)}x`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
