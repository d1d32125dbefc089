/**
 * Specifies a large queue while the next hop is down: smtp-source injects N messages into a real
 * `sluice serve` whose relayhost port has nobody listening, so every message is deferred; then the
 * sink (the fault sink, keeping headers only) comes up on that port, `sluice queue flush` makes
 * every message due, and all N arrive exactly once (distinct Sluice queue ids from the Received
 * header), and the spool is empty. Sluice's peak RSS (VmHWM) is reported and must stay below
 * a bound. N is 2,000 in `make test`; `make test-soak` runs 100,000 (SLUICE_SOAK_MESSAGES).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { sluiceCli } from '../harness/clients.js';
import { type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { freePort, waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const MESSAGES = Number(process.env.SLUICE_SOAK_MESSAGES ?? 2000);
/** Peak RSS allowed for the whole server, in MiB (SLUICE_SOAK_MAX_RSS_MIB overrides). */
const MAX_RSS_MIB = Number(process.env.SLUICE_SOAK_MAX_RSS_MIB ?? 512);
const TIMEOUT_MS = Math.max(120_000, MESSAGES * 20);
const run = promisify(execFile);

let sluice: SluiceProcess | undefined;
let sink: FaultSink | undefined;
after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

/** A value from /proc/PID/status in KiB, e.g. VmHWM (peak RSS) or VmRSS. */
function procKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
}

/** The server's own figure of live JS heap (prom-client's default metrics). */
async function heapUsedBytes(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^sluice_nodejs_heap_size_used_bytes (\d+)/m.exec(text)?.[1] ?? 0);
}

const spoolCount = (dir: string) =>
  readdirSync(path.join(dir, 'spool', 'queue')).filter((n) => /^[0-9a-f]{20}$/.test(n)).length;

test(`${MESSAGES} messages queued while the sink is down are all delivered once it is back`, {
  timeout: TIMEOUT_MS * 3,
}, async (t) => {
  const sinkPort = await freePort();
  sluice = await startSluice({
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sinkPort}`,
      'delivery.retry_schedule': '[10m]',
      'delivery.max_connections': 20,
      'log.level': 'error',
    },
  });
  const pid = sluice.child.pid!;
  const started = Date.now();
  await run(
    '/usr/sbin/smtp-source',
    [
      '-d',
      '-s',
      '10',
      '-l',
      '1024',
      '-m',
      String(MESSAGES),
      '-f',
      'soak@example.com',
      '-t',
      'rcpt@soak.example',
      `127.0.0.1:${sluice.smtpPort}`,
    ],
    { timeout: TIMEOUT_MS },
  );
  const injectSeconds = (Date.now() - started) / 1000;
  assert.equal(spoolCount(sluice.dataDir), MESSAGES, 'every message is spooled');
  // Every first attempt fails (connection refused) and is deferred by ten minutes.
  const dir = sluice.dataDir;
  await waitFor(
    async () => {
      const summary = await sluiceCli(['queue', 'summary', '--json', '-o', `data_dir=${dir}`]);
      const rows = JSON.parse(summary.stdout || '[]') as Array<{ domain: string; messages: number }>;
      const depth = await sluiceCli(['queue', 'list', '--limit', '1', '--json', '-o', `data_dir=${dir}`]);
      const first = (JSON.parse(depth.stdout || '[]') as Array<{ recipients: Array<{ state: string }> }>)[0];
      return rows[0]?.messages === MESSAGES && first?.recipients[0]?.state === 'deferred';
    },
    TIMEOUT_MS,
    'every message deferred',
  );
  const rssDownKiB = procKiB(pid, 'VmRSS');
  const heapDownMiB = (await heapUsedBytes(sluice.httpPort)) / 1024 / 1024;

  sink = await startFaultSink(undefined, { port: sinkPort, keepBodies: false });
  const back = Date.now();
  const flushed = await sluiceCli(['queue', 'flush', '-o', `data_dir=${dir}`], TIMEOUT_MS);
  assert.equal(flushed.code, 0, flushed.stderr);
  const s = sink;
  await waitFor(() => s.messages.length >= MESSAGES, TIMEOUT_MS, `${MESSAGES} messages at the sink`);
  await waitFor(() => spoolCount(dir) === 0, TIMEOUT_MS, 'an empty spool');
  const drainSeconds = (Date.now() - back) / 1000;
  const peakKiB = procKiB(pid, 'VmHWM');

  const ids = s.messages.map((m) => /\(Sluice\) with \S+ id ([0-9a-f]{20})/.exec(m.text)?.[1]);
  assert.equal(ids.filter(Boolean).length, MESSAGES, 'every message carries its Sluice id');
  assert.equal(new Set(ids).size, MESSAGES, 'nothing delivered twice');
  assert.equal(s.messages.length, MESSAGES);

  const figures = `soak: ${MESSAGES} messages; inject ${injectSeconds.toFixed(1)} s; RSS with all deferred ${(rssDownKiB / 1024).toFixed(0)} MiB (JS heap in use ${heapDownMiB.toFixed(0)} MiB); drain after the sink came back ${drainSeconds.toFixed(1)} s; peak RSS (VmHWM) ${(peakKiB / 1024).toFixed(0)} MiB`;
  t.diagnostic(figures);
  process.stderr.write(`${figures}\n`);
  assert.ok(
    peakKiB / 1024 < MAX_RSS_MIB,
    `peak RSS ${(peakKiB / 1024).toFixed(0)} MiB exceeds ${MAX_RSS_MIB} MiB`,
  );
});
