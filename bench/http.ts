/**
 * HTTP API benchmark, against the SMTP door of the same `sluice serve` as the reference, in one run:
 *  1. one transmission with 1,000 recipients, timed from POST to the 200 (every message is fsynced
 *     by then) vs the same 1,000 single-recipient messages injected over SMTP (16 pooled sessions);
 *  2. single-recipient transmissions/s under autocannon (C connections, D seconds) with p50/p99,
 *     vs single-recipient SMTP messages/s over C sessions (nodemailer pool) with p50/p99.
 * Delivery goes to Postfix's smtp-sink. Medians over rounds; a markdown table on stdout, progress
 * on stderr. Every process it starts is stopped and its scratch dir removed. `make bench-http`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import nodemailer from 'nodemailer';
import { createKey } from '../test/harness/clients.js';
import { startSluice } from '../test/harness/sluice-process.js';
import { startSmtpSink } from '../test/harness/smtp-sink.js';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  '2xx': number;
  errors: number;
  timeouts: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: object) => Promise<CannonResult>;

const USAGE = `usage: bench/http [--rounds N] [--recipients N] [--connections C] [--duration SECS]`;

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    recipients: { type: 'string', default: '1000' },
    connections: { type: 'string', default: '16' },
    duration: { type: 'string', default: '10' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const rounds = Number(values.rounds);
const recipients = Number(values.recipients);
const connections = Number(values.connections);
const duration = Number(values.duration);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const log = (text: string) => process.stderr.write(`${text}\n`);

const TEXT = `Hello,\n\n${'This is a benchmark message body line.\n'.repeat(40)}`;
const content = { from: 'bench@sluice.example', subject: 'bench', text: TEXT };

async function main() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-http-'));
  const sink = await startSmtpSink();
  const sluice = await startSluice({
    dataDir: path.join(scratch, 'data'),
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'http.rate_limit': 0,
      'log.level': 'warn',
      'smtp.max_connections_per_ip': 1000,
    },
  });
  try {
    const { key } = await createKey(sluice.dataDir, { grants: ['transmissions/modify', 'smtp/inject'] });
    const url = `http://127.0.0.1:${sluice.httpPort}/api/v1/transmissions`;
    const headers = { authorization: key, 'content-type': 'application/json' };
    const smtp = nodemailer.createTransport({
      host: '127.0.0.1',
      port: sluice.smtpPort,
      secure: false,
      ignoreTLS: true,
      pool: true,
      maxConnections: connections,
      maxMessages: Number.POSITIVE_INFINITY,
    });
    const smtpOne = (to: string) =>
      smtp.sendMail({ from: content.from, to, subject: content.subject, text: content.text });

    let injected = 0;
    /** Each measurement starts on an idle server: everything sent so far has reached the sink. */
    const drained = async () => {
      await sink.waitForCount(injected, 300_000);
    };
    const bulkHttp: number[] = [];
    const bulkSmtp: number[] = [];
    const rateHttp: CannonResult[] = [];
    const rateSmtp: { rate: number; p50: number; p99: number }[] = [];
    for (let round = 1; round <= rounds; round++) {
      const list = Array.from({ length: recipients }, (_, i) => ({
        address: `r${round}-${i}@bench.example`,
      }));
      await drained();
      let start = performance.now();
      const response = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ recipients: list, content }),
      });
      const answer = (await response.json()) as { results?: { total_accepted_recipients: number } };
      bulkHttp.push(performance.now() - start);
      if (answer.results?.total_accepted_recipients !== recipients)
        throw new Error(`bulk: ${JSON.stringify(answer)}`);
      log(`round ${round}: ${recipients}-recipient transmission in ${bulkHttp.at(-1)!.toFixed(0)} ms`);
      injected += recipients;
      await drained();

      start = performance.now();
      const queue = list.map((r) => r.address);
      await Promise.all(
        Array.from({ length: connections }, async () => {
          for (let to = queue.shift(); to; to = queue.shift()) await smtpOne(to);
        }),
      );
      bulkSmtp.push(performance.now() - start);
      log(`round ${round}: ${recipients} SMTP messages in ${bulkSmtp.at(-1)!.toFixed(0)} ms`);
      injected += recipients;
      await drained();

      const one = JSON.stringify({ recipients: [{ address: 'single@bench.example' }], content });
      const cannon = await autocannon({ url, method: 'POST', headers, body: one, connections, duration });
      if (cannon.non2xx > 0 || cannon.errors > 0)
        throw new Error(`autocannon: ${cannon.non2xx} non-2xx, ${cannon.errors} errors`);
      rateHttp.push(cannon);
      injected += cannon['2xx'];
      await drained();
      log(
        `round ${round}: HTTP ${cannon.requests.average.toFixed(0)} transmissions/s, p99 ${cannon.latency.p99} ms`,
      );

      const latencies: number[] = [];
      const until = performance.now() + duration * 1000;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (performance.now() < until) {
            const t = performance.now();
            await smtpOne('single@bench.example');
            latencies.push(performance.now() - t);
          }
        }),
      );
      injected += latencies.length;
      await drained();
      rateSmtp.push({
        rate: latencies.length / duration,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
      });
      log(
        `round ${round}: SMTP ${rateSmtp.at(-1)!.rate.toFixed(0)} messages/s, p99 ${rateSmtp.at(-1)!.p99.toFixed(1)} ms`,
      );
    }
    smtp.close();

    const h = median(bulkHttp);
    const s = median(bulkSmtp);
    const hr = median(rateHttp.map((r) => r.requests.average));
    const sr = median(rateSmtp.map((r) => r.rate));
    console.log(
      `\n${os.cpus().length} CPUs, ${rounds} rounds (medians), ${connections} connections, ${duration} s per rate run; other jobs may share the machine.\n`,
    );
    console.log('| workload | HTTP API | SMTP (reference) | HTTP/SMTP |');
    console.log('|---|---:|---:|---:|');
    console.log(
      `| ${recipients} recipients accepted durably (ms, lower is better) | ${h.toFixed(0)} | ${s.toFixed(0)} | ${(h / s).toFixed(2)} |`,
    );
    console.log(
      `| single-recipient messages/s | ${hr.toFixed(0)} | ${sr.toFixed(0)} | ${(hr / sr).toFixed(2)} |`,
    );
    console.log(
      `| p50 latency (ms) | ${median(rateHttp.map((r) => r.latency.p50)).toFixed(1)} | ${median(rateSmtp.map((r) => r.p50)).toFixed(1)} | |`,
    );
    console.log(
      `| p99 latency (ms) | ${median(rateHttp.map((r) => r.latency.p99)).toFixed(1)} | ${median(rateSmtp.map((r) => r.p99)).toFixed(1)} | |`,
    );
    console.log(`\ntarget: ${recipients} recipients in < 1000 ms: ${h < 1000 ? 'met' : 'NOT met'}`);
  } finally {
    await sluice.stop();
    await sink.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
