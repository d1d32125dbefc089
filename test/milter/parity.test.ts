/**
 * Specifies parity between the two ways Sluice's rules reach a message: the same message (sent
 * with the same API key, the same X-MSYS-API, a multipart with HTML, text and an attachment)
 * through a real Postfix with `sluice milter` (stage 0) and through `sluice serve` standalone
 * (tracking at delivery) reaches the sink with the same body — byte for byte once each tracking
 * token is replaced by what it carries — and records an `injection` event with the same fields
 * and values, ids and times aside. One data dir serves both, so one key and one signing key.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TokenSigner } from '../../src/tracking/token.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { createKey, searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let serve: SluiceProcess;
let auth: SluiceAuthProcess;
let milter: SluiceService;
let postfix: PostfixInstance;
let key: { id: string; key: string };

before(async () => {
  sink = await startSink();
  serve = await startSluice({
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'delivery.tls': 'none' },
  });
  const dataDir = serve.dataDir;
  key = await createKey(dataDir, { label: 'parity' });
  auth = await startSluiceAuth(dataDir, { 'auth.allow_insecure': true });
  milter = await startSluiceService('milter', { dataDir });
  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    extraMainCf: {
      smtpd_milters: `inet:127.0.0.1:${milter.port}`,
      milter_default_action: 'tempfail',
      milter_protocol: '6',
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
  await serve?.stop();
  await sink?.stop();
  if (serve) rmSync(serve.dataDir, { recursive: true, force: true });
});

function message(subject: string): Buffer {
  const attachment = Buffer.alloc(1500, 3).toString('base64').replace(/.{76}/g, '$&\r\n');
  const msys = {
    campaign_id: 'parity',
    tags: ['t1'],
    metadata: { user: 7 },
    options: { open_tracking: true, click_tracking: true },
  };
  return Buffer.from(
    [
      'From: "Shop" <app@example.com>',
      'To: solo@example.net',
      `Subject: ${subject}`,
      `X-MSYS-API: ${JSON.stringify(msys)}`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="mix"',
      '',
      '--mix',
      'Content-Type: multipart/alternative; boundary="alt"',
      '',
      '--alt',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Shop now: https://shop.example.com/a?x=1',
      '--alt',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      '<html><body><p>Hello <a href=3D"https://shop.example.com/a?x=3D1">shop</a> and',
      '<a data-msys-linkname=3D"promo" href=3D"https://shop.example.com/promo">promo</a></p></body></html>',
      '--alt--',
      '--mix',
      'Content-Type: application/pdf; name="x.pdf"',
      'Content-Disposition: attachment; filename="x.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      attachment,
      '--mix--',
      '',
    ].join('\r\n'),
  );
}

const atSink = (subject: string) =>
  waitFor(() => sink.messages.find((m) => m.text.includes(`Subject: ${subject}\r\n`)), 30_000, subject);

const TOKEN = /http:\/\/127\.0\.0\.1:8080\/([fq])\/([A-Za-z0-9_-]+)/g;

/** The body with every token replaced by what it carries (the message id by a placeholder). */
function normalised(text: string, signer: TokenSigner, messageId: string): string {
  // Quoted-printable soft line breaks may fall inside a token; both sides encode alike.
  const body = text
    .slice(text.indexOf('\r\n\r\n') + 4)
    .replace(/=\r\n/g, '')
    .replace(/=3D/g, '=');
  return body.replace(TOKEN, (_all, route: string, token: string) => {
    const p = signer.verify(token);
    assert.ok(p, `a token that verifies: ${token}`);
    assert.equal(p.messageId, messageId, 'the token names its message');
    return `<${route} ${p.kind} ${p.rcpt} ${p.linkIndex} ${p.linkName} ${p.url}>`;
  });
}

const ASIDE = new Set([
  'event_id',
  'timestamp',
  'message_id',
  'transmission_id',
  'injection_time',
  'msg_size',
]);
const comparable = (event: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(event).filter(([k]) => !ASIDE.has(k)));

test('Postfix + sluice milter and sluice serve give the same body and the same injection event', async () => {
  const auth = { user: 'SMTP_Injection', password: key.key };
  const viaMilter = await swaks({
    port: postfix.port,
    from: 'app@example.com',
    to: ['solo@example.net'],
    data: message('parity milter'),
    auth,
  });
  assert.equal(viaMilter.code, 0, viaMilter.stdout);
  const viaServe = await swaks({
    port: serve.smtpPort,
    from: 'app@example.com',
    to: ['solo@example.net'],
    data: message('parity serve'),
    auth,
    tls: true,
  });
  assert.equal(viaServe.code, 0, viaServe.stdout);
  const fromMilter = (await atSink('parity milter'))!;
  const fromServe = (await atSink('parity serve'))!;

  const milterId = /\r\nX-Sluice-Message-ID: ([0-9a-f]{20})\r\n/.exec(fromMilter.text)![1]!;
  const serveId = viaServe.queuedId!;
  const keys = JSON.parse(readFileSync(path.join(serve.dataDir, 'tracking', 'keys.json'), 'utf8'));
  const signer = new TokenSigner(keys, 86_400_000);
  const milterBody = normalised(fromMilter.text, signer, milterId);
  const serveBody = normalised(fromServe.text, signer, serveId);
  assert.match(milterBody, /<q initial_open solo@example\.net /, 'tracked: pixels');
  assert.match(milterBody, /<f click solo@example\.net \d+ promo https:\/\/shop\.example\.com\/promo>/);
  assert.equal(milterBody, serveBody);

  const [milterEvent] = await searchEvents(serve.dataDir, { type: 'injection', messageId: milterId });
  const [serveEvent] = await searchEvents(serve.dataDir, { type: 'injection', messageId: serveId });
  assert.ok(milterEvent && serveEvent);
  assert.equal(milterEvent.campaign_id, 'parity');
  assert.equal(milterEvent.api_key_id, key.id);
  assert.equal(milterEvent.subject, 'parity milter');
  assert.equal(serveEvent.subject, 'parity serve');
  assert.deepEqual({ ...comparable(milterEvent), subject: '' }, { ...comparable(serveEvent), subject: '' });
});
