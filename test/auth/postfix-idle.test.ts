/**
 * Specifies what auth.idle_timeout costs a real Postfix, the fact its default (1 h) and the docs
 * rest on: an smtpd process keeps its connection to `sluice auth` between SMTP sessions; once that
 * connection was closed as idle, the process's next AUTH gets 454 4.7.0 (temporary: the client
 * retries; never a 535), and the one after reconnects and succeeds. Postfix runs one smtpd
 * process here (default_process_limit = 1), so every session is served by the same one.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadTlsPair } from '../../src/tls/certificate.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { createKey, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type Sink, startSink } from '../harness/sink.js';

let dir: string;
let sink: Sink;
let auth: SluiceAuthProcess;
let postfix: PostfixInstance;
let key: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-auth-idle-'));
  chmodSync(dir, 0o755);
  sink = await startSink();
  ({ key } = await createKey(path.join(dir, 'data'), { label: 'idle' }));
  auth = await startSluiceAuth(path.join(dir, 'data'), { 'auth.idle_timeout': '1s' });
  await loadTlsPair({ cert: null, key: null }, dir, 'sluice-test.localdomain');
  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    mynetworks: '',
    extraMainCf: {
      smtpd_sasl_auth_enable: 'yes',
      smtpd_sasl_type: 'dovecot',
      smtpd_sasl_path: `inet:127.0.0.1:${auth.port}`,
      smtpd_tls_auth_only: 'yes',
      smtpd_tls_security_level: 'may',
      smtpd_tls_cert_file: path.join(dir, 'tls/cert.pem'),
      smtpd_tls_key_file: path.join(dir, 'tls/key.pem'),
      smtpd_recipient_restrictions: 'permit_sasl_authenticated, reject',
      default_process_limit: '1',
    },
  });
});

after(async () => {
  await postfix?.stop();
  await auth?.stop();
  await sink?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** One SMTP session through Postfix with AUTH; the reply to AUTH. */
async function authenticate(): Promise<string> {
  const session = await swaks({
    port: postfix.port,
    from: 'app@example.com',
    to: ['you@example.net'],
    tls: true,
    auth: { user: 'SMTP_Injection', password: key },
    extra: ['--quit-after', 'AUTH'],
  });
  const reply = session.serverLines.find((line) => /^(235|454|535) /.test(line));
  assert.ok(reply, session.stdout);
  return reply;
}

test('after an idle close, the smtpd holding the connection answers one AUTH with 454 4.7.0, then reconnects', async () => {
  assert.match(await authenticate(), /^235 /);
  const idleClosed = () => (auth.output().match(/"msg":"auth connection idle: closing"/g) ?? []).length;
  await waitFor(() => idleClosed() >= 1, 15_000, 'the idle connection closed');
  assert.match(await authenticate(), /^454 4\.7\.0 .*Connection lost to authentication server/);
  assert.match(await authenticate(), /^235 /, 'the next one reconnects');
});
