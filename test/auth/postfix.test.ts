/**
 * Specifies `sluice auth` behind a real scratch Postfix configured with the documented lines of
 * contrib/postfix/main.cf.auth (smtpd_sasl_type = dovecot, smtpd_sasl_path = inet:…), STARTTLS on
 * a throw-away certificate, and relay only for authenticated clients. Apps log in with
 * SMTP_Injection and an API key, as swaks and Python's smtplib do here: a key with smtp/inject
 * gets its message relayed to the sink and Postfix logs the key id as sasl_username; a wrong key,
 * a key without the grant, and a key whose valid_ips exclude the client get 535. Without TLS the
 * key is refused even when Postfix offers AUTH in the clear.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadTlsPair } from '../../src/tls/certificate.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { pythonSmtp, runProgram, sluiceCli, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type Sink, startSink } from '../harness/sink.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const USER = 'SMTP_Injection';
/** Postfix's 250 after DATA (its queue ids are upper-case hex, unlike Sluice's). */
const POSTFIX_QUEUED = /<~ {2}250 2\.0\.0 Ok: queued as [0-9A-F]+/;

let dir: string;
let sink: Sink;
let auth: SluiceAuthProcess;
let postfix: PostfixInstance;
let plainPostfix: PostfixInstance;
const keys: Record<'good' | 'nogrant' | 'elsewhere', { id: string; key: string }> = {} as never;

async function createKey(
  label: string,
  grant: string,
  validIp?: string,
): Promise<{ id: string; key: string }> {
  const args = ['keys', 'create', '--label', label, '--grant', grant, '--json', '-o', `data_dir=${dir}/data`];
  if (validIp) args.push('--valid-ip', validIp);
  const result = await sluiceCli(args);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as { id: string; key: string };
}

/** `key = value` lines of a main.cf excerpt, with smtpd_sasl_path pointed at this test's port. */
function documentedSettings(port: number): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const line of readFileSync(path.join(repoRoot, 'contrib/postfix/main.cf.auth'), 'utf8').split('\n')) {
    const match = /^([a-z_]+)\s*=\s*(.*)$/.exec(line);
    if (match) settings[match[1]!] = match[2]!.trim();
  }
  assert.equal(settings['smtpd_sasl_path'], 'inet:127.0.0.1:12345', 'contrib names the default auth.listen');
  settings['smtpd_sasl_path'] = `inet:127.0.0.1:${port}`;
  return settings;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-auth-postfix-'));
  chmodSync(dir, 0o755);
  sink = await startSink();
  keys.good = await createKey('postfix app', 'smtp/inject');
  keys.nogrant = await createKey('reporting', 'message_events/view');
  keys.elsewhere = await createKey('other network', 'smtp/inject', '192.0.2.0/24');
  // A short first delay: Postfix waits at most 10 s for an answer, and this test fails on purpose.
  auth = await startSluiceAuth(path.join(dir, 'data'), { 'auth.failure_delay': '50ms' });
  await loadTlsPair({ cert: null, key: null }, dir, 'sluice-test.localdomain');
  const common = {
    ...documentedSettings(auth.port),
    smtpd_tls_cert_file: path.join(dir, 'tls/cert.pem'),
    smtpd_tls_key_file: path.join(dir, 'tls/key.pem'),
    smtpd_recipient_restrictions: 'permit_sasl_authenticated, reject',
  };
  const relayhost = `[127.0.0.1]:${sink.port}`;
  // Nothing is trusted by address: only AUTH lets a client relay.
  postfix = await startPostfix({ relayhost, mynetworks: '', extraMainCf: common });
  // The same, but offering AUTH before STARTTLS: sluice auth itself must refuse keys in the clear.
  plainPostfix = await startPostfix({
    relayhost,
    mynetworks: '',
    extraMainCf: { ...common, smtpd_tls_auth_only: 'no' },
  });
});

after(async () => {
  await postfix?.stop();
  await plainPostfix?.stop();
  await auth?.stop();
  await sink?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const message = (subject: string) =>
  Buffer.from(`From: app@example.com\r\nTo: you@example.net\r\nSubject: ${subject}\r\n\r\nHello.\r\n`);

describe('sluice auth behind Postfix (smtpd_sasl_type = dovecot)', () => {
  test('swaks, AUTH PLAIN over STARTTLS with a valid key: relayed, sasl_username is the key id', async () => {
    const sent = await swaks({
      port: postfix.port,
      from: 'app@example.com',
      to: ['you@example.net'],
      tls: true,
      auth: { user: USER, password: keys.good.key },
      data: message('plain ok'),
    });
    assert.ok(
      sent.serverLines.some((l) => l.startsWith('235 ')),
      sent.stdout,
    );
    assert.match(sent.stdout, POSTFIX_QUEUED);
    await waitFor(() => sink.messages.find((m) => m.text.includes('Subject: plain ok')), 30_000, 'sink');
    const log = await waitFor(
      () => postfix.log().match(/sasl_method=PLAIN, sasl_username=(\S+)/),
      10_000,
      'sasl_username',
    );
    assert.equal(log?.[1], keys.good.id);
  });

  test('swaks, AUTH LOGIN: the two-step conversation works too', async () => {
    const args = ['--server', '127.0.0.1', '--port', String(postfix.port), '--tls', '--auth', 'LOGIN'];
    args.push('--auth-user', USER, '--auth-password', keys.good.key);
    args.push('--from', 'login@example.com', '--to', 'you@example.net', '--header', 'Subject: login ok');
    const result = await runProgram('/usr/bin/swaks', args);
    assert.match(result.stdout, /<~ {2}334 VXNlcm5hbWU6/, 'the Username: challenge, passed through');
    assert.match(result.stdout, /<~ {2}235 /, result.stdout);
    assert.match(result.stdout, POSTFIX_QUEUED);
    // Postfix logs sasl_* when the message gets its queue file, so this needs the MAIL FROM above.
    await waitFor(() => postfix.log().includes(`sasl_method=LOGIN, sasl_username=${keys.good.id}`), 10_000);
  });

  test('Python smtplib, STARTTLS then login(): relayed', async () => {
    const steps = await pythonSmtp({
      port: postfix.port,
      starttls: true,
      login: { user: USER, password: keys.good.key },
      from: 'py@example.com',
      to: ['you@example.net'],
      data: message('smtplib ok'),
    });
    assert.equal(steps.find((s) => s.step === 'login')?.code, 235, JSON.stringify(steps));
    assert.equal(steps.find((s) => s.step === 'data')?.code, 250, JSON.stringify(steps));
    await waitFor(() => sink.messages.find((m) => m.text.includes('Subject: smtplib ok')), 30_000, 'sink');
  });

  for (const [what, password] of [
    ['a wrong key', () => 'f'.repeat(40)],
    ['a key without smtp/inject', () => keys.nogrant.key],
    ['a key whose valid_ips exclude 127.0.0.1', () => keys.elsewhere.key],
  ] as const) {
    test(`${what} gets 535 and relays nothing`, async () => {
      const before = sink.messages.length;
      const sent = await swaks({
        port: postfix.port,
        from: 'app@example.com',
        to: ['you@example.net'],
        tls: true,
        auth: { user: USER, password: password() },
        data: message(what),
      });
      assert.ok(
        sent.serverLines.some((l) => /^535 5\.7\.8 /.test(l)),
        sent.stdout,
      );
      assert.doesNotMatch(sent.stdout, POSTFIX_QUEUED);
      assert.equal(sink.messages.length, before);
    });
  }

  test('smtplib with the right key but the wrong user name gets 535', async () => {
    const steps = await pythonSmtp({
      port: postfix.port,
      starttls: true,
      login: { user: 'admin', password: keys.good.key },
    });
    assert.equal(steps.find((s) => s.step === 'login')?.code, 535, JSON.stringify(steps));
  });

  test('without TLS the key is refused, though that Postfix offers AUTH in the clear', async () => {
    const steps = await pythonSmtp({
      port: plainPostfix.port,
      login: { user: USER, password: keys.good.key },
    });
    const login = steps.find((s) => s.step === 'login');
    assert.equal(login?.code, 535, JSON.stringify(steps));
    assert.match(login?.text ?? '', /non-secure/);
  });

  test('no key ever reaches the log of sluice auth', () => {
    for (const key of Object.values(keys)) assert.ok(!auth.output().includes(key.key));
    assert.match(auth.output(), /"msg":"auth failed"/);
  });
});
