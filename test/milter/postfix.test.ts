/**
 * Specifies `sluice milter` inside a real Postfix: a scratch Postfix configured with the lines of
 * contrib/postfix/main.cf.milter themselves (only the milter address pointed at this test's port),
 * relaying to a recording sink; `sluice milter` and `sluice auth` as real child processes on one
 * data dir; swaks as the app. A valid X-MSYS-API is removed from the delivered bytes, which gain
 * X-Sluice-Message-ID and are otherwise what the app sent; the injection events carry the header's
 * campaign, tags and metadata and the key id from {auth_authen}; with tracking asked for, the
 * delivered HTML carries signed links and pixels naming the message and its sole recipient, the
 * header section untouched; an invalid header gets 550 5.6.0
 * naming the field at end of data and nothing is delivered; with the milter down Postfix applies
 * main.cf.milter's milter_default_action (tempfail: 451 4.7.1, nothing queued). With no `sluice
 * serve` at all (stage 0), the milter's injection events still reach a webhook receiver.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config/schema.js';
import { openStores } from '../../src/store/open.js';
import { TokenSigner } from '../../src/tracking/token.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { createKey, type SwaksResult, searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MILTER_CF = path.join(repoRoot, 'contrib/postfix/main.cf.milter');
const QUEUED = /250 2\.0\.0 Ok: queued as [0-9A-F]+/;

let dir: string;
let dataDir: string;
let sink: Sink;
let auth: SluiceAuthProcess;
let milter: SluiceService;
let postfix: PostfixInstance;
let key: { id: string; key: string };
let receiver: http.Server;
/** Every webhook batch the receiver got, parsed. */
const batches: { msys: Record<string, { type: string; message_id: string; campaign_id?: string }> }[][] = [];

/** A webhook to a loopback receiver, written straight into the store the milter uses. */
async function addWebhook(target: string): Promise<void> {
  const stores = await openStores(configSchema.parse({ data_dir: dataDir }));
  const now = new Date().toISOString();
  await stores.webhooks.insert({
    id: 'stage0-hook',
    name: 'stage 0',
    target,
    events: ['injection'],
    auth_type: 'none',
    auth_credentials: null,
    secret: 'stage0-secret',
    active: true,
    created: now,
    updated: now,
  });
  await stores.close();
}

function parseMainCf(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const match = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    assert.ok(match, `not a main.cf line: ${line}`);
    settings.set(match[1]!, match[2]!.trim());
  }
  return settings;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-milter-'));
  chmodSync(dir, 0o755);
  dataDir = path.join(dir, 'data');
  key = await createKey(dataDir, { label: 'milter app' });
  auth = await startSluiceAuth(dataDir, { 'auth.allow_insecure': true });
  sink = await startSink();
  receiver = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => {
      body += chunk;
    });
    request.on('end', () => {
      batches.push(JSON.parse(body));
      response.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  await addWebhook(`http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`);

  milter = await startSluiceService('milter', {
    dataDir,
    // The receiver is on loopback, which the SSRF guard refuses by default.
    overrides: { 'webhooks.batch_interval': '100ms', 'webhooks.allow_private_targets': true },
  });
  const port = milter.port;

  // The documented lines, as an admin pastes them; only the milter address changes.
  const documented = parseMainCf(readFileSync(MILTER_CF, 'utf8'));
  const defaultAt = `inet:${configSchema.parse({}).milter.listen!.slice('inet:'.length)}`;
  assert.equal(documented.get('smtpd_milters'), defaultAt, 'contrib names the default milter.listen');
  const settings: Record<string, string> = {};
  for (const [name, value] of documented)
    settings[name] = value.replaceAll(defaultAt, `inet:127.0.0.1:${port}`);

  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    extraMainCf: {
      ...settings,
      // AUTH without TLS keeps this test about the milter; sluice auth allows it here only.
      smtpd_sasl_auth_enable: 'yes',
      smtpd_sasl_type: 'dovecot',
      smtpd_sasl_path: `inet:127.0.0.1:${auth.port}`,
      smtpd_tls_auth_only: 'no',
    },
  });
});

after(async () => {
  await postfix?.stop();
  await milter?.stop();
  await auth?.stop();
  await sink?.stop();
  await new Promise((resolve) => receiver?.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const HTML = '<html><body><p>Hello <a href="https://example.com/x">there</a></p></body></html>';

function message(subject: string, msys: string[]): Buffer {
  return Buffer.from(
    [
      'From: "Shop" <app@example.com>',
      'To: you@example.net',
      `Subject: ${subject}`,
      ...msys.map((value) => `X-MSYS-API: ${value}`),
      'X-Keep-Me: folded',
      '  continuation',
      'MIME-Version: 1.0',
      'Content-Type: text/html; charset=utf-8',
      '',
      HTML,
      '',
    ].join('\r\n'),
  );
}

async function send(subject: string, msys: string[], withKey = false): Promise<SwaksResult> {
  return await swaks({
    port: postfix.port,
    from: 'app@example.com',
    to: ['you@example.net', 'other@example.org'],
    data: message(subject, msys),
    ...(withKey ? { auth: { user: 'SMTP_Injection', password: key.key } } : {}),
  });
}

const atSink = (subject: string) =>
  waitFor(() => sink.messages.find((m) => m.text.includes(`Subject: ${subject}\r\n`)), 30_000, subject);

/** The reply to the end of DATA: the last server line of the transcript before QUIT's. */
function dataReply(sent: SwaksResult): string {
  const lines = sent.serverLines.filter((l) => /^\d{3} /.test(l));
  return lines[lines.length - 2] ?? sent.stdout;
}

describe('sluice milter in a real Postfix', () => {
  test('a valid X-MSYS-API is applied: header removed, X-Sluice-Message-ID added, the rest intact', async () => {
    const msys = '{"campaign_id":"spring","tags":["a","b"],"metadata":{"user":42}}';
    const sent = await send('valid 1', [msys], true);
    assert.equal(sent.code, 0, `${sent.stdout}\n${milter.output()}`);
    assert.match(sent.stdout, QUEUED);
    const delivered = (await atSink('valid 1'))!;
    assert.doesNotMatch(delivered.text, /X-MSYS-API/i);
    const id = /\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/.exec(delivered.text)?.[1];
    assert.ok(id, delivered.text);
    // Everything the app wrote is there, byte for byte, folding included.
    const sentText = message('valid 1', []).toString();
    const [sentHeader, sentBody] = sentText.split('\r\n\r\n') as [string, string];
    for (const line of sentHeader.split('\r\n')) assert.ok(delivered.text.includes(`${line}\r\n`), line);
    assert.ok(delivered.text.endsWith(`\r\n\r\n${sentBody}`), delivered.text);

    const events = await searchEvents(dataDir, { type: 'injection', messageId: id });
    assert.deepEqual(events.map((e) => e.rcpt_to).sort(), ['other@example.org', 'you@example.net']);
    for (const event of events) {
      assert.equal(event.campaign_id, 'spring');
      assert.deepEqual(event.rcpt_tags, ['a', 'b']);
      assert.deepEqual(event.rcpt_meta, { user: 42 });
      assert.equal(event.api_key_id, key.id);
      assert.equal(event.subject, 'valid 1');
      assert.equal(event.friendly_from, 'app@example.com');
      assert.equal(event.msg_from, 'app@example.com');
      assert.equal(event.recv_method, 'esmtp');
      assert.equal(event.ip_address, '127.0.0.1');
    }
  });

  test('with no sluice serve running, the milter sends its injection events to webhooks', async () => {
    const sent = await send('webhook 1', ['{"campaign_id":"stage0"}'], true);
    assert.match(sent.stdout, QUEUED);
    const delivered = (await atSink('webhook 1'))!;
    const id = /\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/.exec(delivered.text)?.[1];
    assert.ok(id, delivered.text);
    // The dispatcher reads the webhook list within seconds of start; the batch follows the event.
    const posted = await waitFor(
      () => {
        const mine = batches.flat().filter((entry) => entry.msys.message_event?.message_id === id);
        return mine.length === 2 ? mine : undefined;
      },
      30_000,
      'both injection events posted',
    );
    for (const entry of posted!) {
      assert.equal(entry.msys.message_event?.type, 'injection');
      assert.equal(entry.msys.message_event?.campaign_id, 'stage0');
    }
  });

  test('tracking on: the delivered HTML is tracked through replace-body, tokens name the message and recipient', async () => {
    const msys = '{"campaign_id":"t","options":{"open_tracking":true,"click_tracking":true}}';
    const sent = await swaks({
      port: postfix.port,
      from: 'app@example.com',
      to: ['solo@example.net'],
      data: message('tracked 1', [msys]),
      auth: { user: 'SMTP_Injection', password: key.key },
    });
    assert.match(sent.stdout, QUEUED);
    const delivered = (await atSink('tracked 1'))!;
    assert.doesNotMatch(delivered.text, /X-MSYS-API/i);
    const id = /\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/.exec(delivered.text)?.[1];
    assert.ok(id, delivered.text);
    // The header section is the app's (folding included); only the body changed.
    for (const line of message('tracked 1', []).toString().split('\r\n\r\n')[0]!.split('\r\n'))
      assert.ok(delivered.text.includes(`${line}\r\n`), line);
    assert.doesNotMatch(delivered.text, /href="https:\/\/example\.com\/x"/);
    const keys = JSON.parse(readFileSync(path.join(dataDir, 'tracking', 'keys.json'), 'utf8'));
    const signer = new TokenSigner(keys, 86_400_000);
    const tokens = [...delivered.text.matchAll(/http:\/\/127\.0\.0\.1:8080\/([fq])\/([A-Za-z0-9_-]+)/g)].map(
      (m) => signer.verify(m[2]!),
    );
    assert.deepEqual(tokens.map((t) => t?.kind).sort(), ['click', 'initial_open', 'open']);
    for (const token of tokens) {
      assert.equal(token!.messageId, id);
      assert.equal(token!.rcpt, 'solo@example.net');
    }
    assert.equal(tokens.find((t) => t!.kind === 'click')!.url, 'https://example.com/x');
    const events = await searchEvents(dataDir, { type: 'injection', messageId: id });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.campaign_id, 't');
  });

  test('mail from mynetworks without a key is processed too; without the header it only gains the id', async () => {
    const sent = await send('plain 1', []);
    assert.match(sent.stdout, QUEUED);
    const delivered = (await atSink('plain 1'))!;
    const id = /\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/.exec(delivered.text)?.[1];
    assert.ok(id);
    const events = await searchEvents(dataDir, { type: 'injection', messageId: id });
    assert.equal(events.length, 2);
    assert.equal(events[0]!.api_key_id, null);
    assert.equal(events[0]!.campaign_id, '');
  });

  test('an invalid X-MSYS-API gets 550 5.6.0 naming the field at end of data; nothing is delivered', async () => {
    const bad = await send('invalid 1', ['{"tags":"not-a-list"}']);
    assert.match(dataReply(bad), /^550 5\.6\.0 X-MSYS-API: tags must be an array of strings/);
    const twice = await send('invalid 2', ['{}', '{}']);
    assert.match(dataReply(twice), /^550 5\.6\.0 X-MSYS-API: the header appears more than once/);
    const json = await send('invalid 3', ['{nope']);
    assert.match(dataReply(json), /^550 5\.6\.0 X-MSYS-API: invalid JSON/);
    await atSink('plain 1');
    assert.equal(
      sink.messages.some((m) => m.text.includes('Subject: invalid')),
      false,
    );
  });

  test('milter down: Postfix applies milter_default_action = tempfail (451 4.7.1), nothing is queued', async () => {
    assert.equal(await milter.stop(), 0, milter.output());
    const sent = await send('down 1', ['{}']);
    assert.ok(
      sent.serverLines.some((l) => /^451 4\.7\.1 Service unavailable - try again later/.test(l)),
      sent.stdout,
    );
    assert.doesNotMatch(sent.stdout, QUEUED);
    assert.equal(postfix.queueSize(), 0);
  });
});
