/**
 * Auth benchmark: AUTH exchanges per second through the Dovecot protocol against a real
 * `sluice auth` process (embedded key store in a scratch data dir, one key with smtp/inject).
 * N persistent client connections each do the handshake, then run AUTH PLAIN requests with the
 * valid key (resp=, secured, rip=127.0.0.1) back to back, one in flight per connection as Postfix's
 * smtpd does. A round ends when every connection has done its share. Reports the median of the
 * rounds' rates and p50/p99 request latency (AUTH written → OK read) as a markdown table on stdout;
 * progress goes to stderr. The process and the scratch dir are removed, also on failure or ^C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AuthClient } from '../test/harness/auth-client.js';
import { startSluiceAuth } from '../test/harness/auth-process.js';
import { sluiceCli } from '../test/harness/clients.js';
import { onProcessExit } from '../test/harness/postfix.js';

const USAGE = `usage: bench/auth [options]

AUTH PLAIN exchanges/s through the Dovecot auth protocol against a real \`sluice auth\`.

  --rounds N        rounds (default 5)
  --connections N   persistent client connections, one request in flight each (default 8)
  --requests N      AUTH requests per round, spread over the connections (default 20000)
  -h, --help        this text`;

interface Options {
  rounds: number;
  connections: number;
  requests: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '8' },
      requests: { type: 'string', default: '20000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (name: string, value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  return {
    rounds: positive('rounds', values.rounds),
    connections: positive('connections', values.connections),
    requests: positive('requests', values.requests),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

async function round(clients: AuthClient[], requests: number, password: string) {
  const latencies: number[] = [];
  const share = Math.ceil(requests / clients.length);
  const started = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      for (let i = 0; i < share; i++) {
        const t0 = performance.now();
        const reply = await client.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password });
        latencies.push(performance.now() - t0);
        if (reply.verdict !== 'OK')
          throw new Error(`unexpected ${reply.verdict}: ${JSON.stringify(reply.params)}`);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: latencies.length / seconds, latencies };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const dir = mkdtempSync(`${os.tmpdir()}/sluice-bench-auth-`);
  const unregister = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  const created = await sluiceCli([
    'keys',
    'create',
    '--label',
    'bench',
    '--grant',
    'smtp/inject',
    '--json',
    '-o',
    `data_dir=${dir}`,
  ]);
  if (created.code !== 0) throw new Error(`keys create failed: ${created.stderr}`);
  const { key } = JSON.parse(created.stdout) as { key: string };
  const auth = await startSluiceAuth(dir, { 'log.level': 'warn' });
  const stopAuth = onProcessExit(() => auth.child.kill('SIGKILL'));
  const clients: AuthClient[] = [];
  try {
    for (let i = 0; i < options.connections; i++) clients.push(await AuthClient.connect(auth.port));
    // One warm-up round, not counted: JIT, SQLite page cache.
    await round(clients, Math.min(2000, options.requests), key);
    const results: Array<{ rate: number; latencies: number[] }> = [];
    for (let r = 1; r <= options.rounds; r++) {
      const result = await round(clients, options.requests, key);
      results.push(result);
      process.stderr.write(`round ${r}: ${result.rate.toFixed(0)} AUTH/s\n`);
    }
    const all = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const rates = results.map((r) => r.rate);
    console.log(`| connections | requests/round | rounds | median AUTH/s | min | max | p50 ms | p99 ms |`);
    console.log(`|---:|---:|---:|---:|---:|---:|---:|---:|`);
    console.log(
      `| ${options.connections} | ${options.requests} | ${options.rounds} | ${median(rates).toFixed(0)} | ` +
        `${Math.min(...rates).toFixed(0)} | ${Math.max(...rates).toFixed(0)} | ` +
        `${percentile(all, 50).toFixed(3)} | ${percentile(all, 99).toFixed(3)} |`,
    );
    console.log(
      `\nper-round AUTH/s: ${rates.map((r) => r.toFixed(0)).join(', ')}; node ${process.version}, ${os.cpus().length} CPUs`,
    );
  } finally {
    for (const client of clients) client.destroy();
    await auth.stop();
    stopAuth();
    rmSync(dir, { recursive: true, force: true });
    unregister();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/auth: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
