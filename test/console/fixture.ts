/**
 * Known data for the console's browser tests: a real `sluice serve` relaying to a fault sink, with
 *  - down.example: every recipient deferred (451 4.3.0), so three messages (four recipients)
 *    wait for a retry an hour away (state "suspended");
 *  - slow.example: one connection at a time (delivery.destinations), and the first message's
 *    RCPT never answered, so the next two wait for that slot (state "throttled");
 *  - ok.example: delivered at once (not in the queue);
 * a webhook whose receiver accepts the creation test batch and refuses (503) everything after,
 * and keys: one with console/manage, one with console/view, one with neither.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { apiClient } from '../harness/api-client.js';
import { createKey, searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { type FaultScript, type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

export const DOWN_REPLY = '4.3.0 Mailbox temporarily unavailable';

const SCRIPT: FaultScript = (rcpt) => {
  if (rcpt.endsWith('@down.example')) return { kind: 'reply', code: 451, text: DOWN_REPLY };
  if (rcpt === 'stall@slow.example') return { kind: 'stall', phase: 'rcpt' };
  return { kind: 'accept' };
};

export interface Fixture {
  sluice: SluiceProcess;
  sink: FaultSink;
  base: string;
  keys: { manage: string; view: string; none: string };
  /** Queue ids by name: down1 (a@ and b@down.example), down2 (campaign "spring"), down3, slow1..3. */
  ids: Record<string, string>;
  /** Requests the webhook receiver refused (503). */
  refusedBatches(): number;
  cli(...args: string[]): Promise<unknown>;
  stop(): Promise<void>;
}

/** "Grüße aus Sluice" as an RFC 2047 encoded-word: the message view must show it decoded. */
export const DOWN1_SUBJECT = 'Grüße aus Sluice';

export async function startFixture(): Promise<Fixture> {
  let requests = 0;
  const receiver = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      requests++;
      response.writeHead(requests === 1 ? 200 : 503).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const receiverPort = (receiver.address() as { port: number }).port;
  const sink = await startFaultSink(SCRIPT);
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-console-'));
  const configFile = path.join(dir, 'sluice.yaml');
  writeFileSync(
    configFile,
    [
      'smtp:',
      '  hostname: mx.sluice.test',
      'delivery:',
      `  relayhost: "[127.0.0.1]:${sink.port}"`,
      '  retry_schedule: [1h]',
      '  destinations:',
      '    slow.example: {max_connections: 1}',
      'webhooks:',
      '  batch_interval: 200ms',
      '  allow_private_targets: true',
      '',
    ].join('\n'),
  );
  const sluice = await startSluice({ configFile, dataDir: path.join(dir, 'data') });
  const base = `http://127.0.0.1:${sluice.httpPort}`;
  const [manage, view, none, hooks] = await Promise.all([
    createKey(sluice.dataDir, { label: 'operator', grants: ['console/manage'] }),
    createKey(sluice.dataDir, { label: 'watcher', grants: ['console/view'] }),
    createKey(sluice.dataDir, { label: 'app', grants: ['smtp/inject'] }),
    createKey(sluice.dataDir, { label: 'hooks', grants: ['webhooks/modify', 'webhooks/view'] }),
  ]);
  const created = await apiClient(sluice.httpPort, hooks!.key)('POST', '/api/v1/webhooks', {
    name: 'analytics',
    target: `http://127.0.0.1:${receiverPort}/batches`,
  });
  if (created.status !== 200) throw new Error(`webhook not created: ${JSON.stringify(created.body)}`);

  const send = async (to: string[], subject: string, headers = '') => {
    const data = Buffer.from(
      `From: app@example.com\r\nTo: ${to.join(', ')}\r\nSubject: ${subject}\r\n${headers}\r\nhello\r\n`,
    );
    const result = await swaks({ port: sluice.smtpPort, from: 'app@example.com', to, data });
    if (!result.queuedId) throw new Error(`not queued: ${result.stdout}`);
    return result.queuedId;
  };
  const encoded = `=?UTF-8?B?${Buffer.from(DOWN1_SUBJECT).toString('base64')}?=`;
  const ids: Record<string, string> = {};
  // The stalled one first, so the other two of slow.example wait for its connection.
  ids.slow1 = await send(['stall@slow.example'], 'slow one');
  await eventually(async () => sink.offers.has('stall@slow.example'), 'the stalled delivery');
  const rest = await Promise.all([
    send(['a@down.example', 'b@down.example'], encoded),
    send(['c@down.example'], 'down two', 'X-MSYS-API: {"campaign_id":"spring"}\r\n'),
    send(['d@down.example'], 'down three'),
    send(['x@slow.example'], 'slow two'),
    send(['y@slow.example'], 'slow three'),
    send(['ok1@ok.example'], 'ok one'),
    send(['ok2@ok.example'], 'ok two'),
  ]);
  for (const [i, name] of ['down1', 'down2', 'down3', 'slow2', 'slow3', 'ok1', 'ok2'].entries())
    ids[name] = rest[i]!;

  const cli = async (...args: string[]) => {
    const result = await sluiceCli([...args, '-o', `data_dir=${sluice.dataDir}`, '--json']);
    if (result.code !== 0) throw new Error(`sluice ${args.join(' ')}: ${result.stderr}`);
    return JSON.parse(result.stdout) as unknown;
  };
  // Settled: every down.example recipient deferred once, ok.example delivered.
  await eventually(async () => {
    const events = await searchEvents(sluice.dataDir);
    const count = (type: string, domain: string) =>
      events.filter((e) => e.type === type && String(e.rcpt_to).endsWith(domain)).length;
    return count('delay', '@down.example') >= 4 && count('delivery', '@ok.example') === 2;
  }, 'the known queue to settle');

  return {
    sluice,
    sink,
    base,
    keys: { manage: manage!.key, view: view!.key, none: none!.key },
    ids,
    refusedBatches: () => Math.max(0, requests - 1),
    cli,
    async stop() {
      // The sink first: the stalled delivery then fails at once instead of holding the shutdown.
      await sink.stop();
      await sluice.stop();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls a slow check (one that runs the CLI) every 300 ms until it holds. */
export async function eventually<T>(check: () => Promise<T>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}
