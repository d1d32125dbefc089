/**
 * Specifies `sluice policy` behind a real Postfix (check_policy_service at RCPT and at
 * END-OF-MESSAGE), with `sluice policy` as a real child process and swaks as the client:
 * the message past a per-sender-domain limit is deferred with the configured text and passes
 * again once the window has gone by; transactions aborted after RCPT use no quota; and SIGTERM
 * stops the service cleanly; a recipient on the suppression list is rejected at RCPT. Postfix runs with one smtpd process (default_process_limit = 1),
 * so every SMTP session reaches Sluice over the same persistent policy connection, as on a quiet
 * server: that is what lets a new `instance` release the one abandoned before it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sluiceCli, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';

const WINDOW_S = 3;
const OVER_LIMIT = 'DEFER_IF_PERMIT 4.7.1 Sender domain over its limit ({scope}), retry later';

let dir: string;
let sink: Sink;
let postfix: PostfixInstance;
let policy: SluiceService;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-policy-'));
  const config = path.join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    [
      'policy:',
      `  over_limit_action: "${OVER_LIMIT}"`,
      '  limits:',
      '    sender_domain:',
      `      - { window: ${WINDOW_S}s, messages: 2 }`,
      '',
    ].join('\n'),
  );
  policy = await startSluiceService('policy', {
    dataDir: path.join(dir, 'data'),
    configFile: config,
    overrides: { 'log.level': 'debug' },
  });
  sink = await startSink();
  const check = `check_policy_service inet:127.0.0.1:${policy.port}`;
  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    extraMainCf: {
      smtpd_recipient_restrictions: `${check}, permit_mynetworks, reject_unauth_destination`,
      smtpd_end_of_data_restrictions: check,
      default_process_limit: '1',
    },
  });
});

after(async () => {
  await postfix?.stop();
  await sink?.stop();
  await policy?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MESSAGE = (n: number) => Buffer.from(`Subject: policy ${n}\r\n\r\nbody ${n}\r\n`);

async function send(from: string, n: number, extra: string[] = []) {
  return swaks({ port: postfix.port, from, to: [`rcpt${n}@example.net`], data: MESSAGE(n), extra });
}

/** Postfix's reply to RCPT TO, from swaks' transcript. */
function rcptReply(stdout: string): string {
  const lines = stdout.split('\n');
  const rcpt = lines.findIndex((l) => /^ -> RCPT TO:/.test(l));
  const reply = lines.slice(rcpt + 1).find((l) => /^<(-|\*\*) +\d{3}/.test(l));
  return reply ? reply.replace(/^<(-|\*\*) +/, '').trimEnd() : `(no RCPT reply in)\n${stdout}`;
}

describe('sluice policy behind Postfix', () => {
  test('defers the message past a per-sender-domain limit, with the configured text, until the window passes', async () => {
    const from = 'app@burst.example';
    for (const n of [1, 2]) {
      const sent = await send(from, n);
      assert.equal(sent.code, 0, sent.serverLines.join('\n'));
    }
    const over = await send(from, 3);
    assert.notEqual(over.code, 0);
    const reply = rcptReply(over.stdout);
    assert.match(reply, /^450 4\.7\.1 /, reply);
    assert.match(reply, /Sender domain over its limit \(sender_domain\), retry later/, reply);

    // Another domain has its own budget.
    const other = await send('app@other.example', 4);
    assert.equal(other.code, 0, other.serverLines.join('\n'));

    // The sliding window forgets a burst completely after two windows.
    await sleep(2 * WINDOW_S * 1000 + 500);
    const again = await send(from, 5);
    assert.equal(again.code, 0, again.serverLines.join('\n'));

    await waitFor(() => sink.messages.length >= 4, 30_000, 'four messages at the sink');
    const subjects = sink.messages.map((m) => /Subject: (policy \d)/.exec(m.text)?.[1]).sort();
    assert.deepEqual(subjects, ['policy 1', 'policy 2', 'policy 4', 'policy 5']);
  });

  test('transactions aborted after RCPT use no quota', async () => {
    const from = 'app@aborts.example';
    for (const n of [11, 12, 13, 14]) {
      const aborted = await send(from, n, ['--quit-after', 'RCPT']);
      assert.equal(aborted.code, 0, aborted.serverLines.join('\n'));
      assert.match(rcptReply(aborted.stdout), /^250 /);
    }
    // Four aborted transactions later the whole budget of two messages is still there.
    for (const n of [15, 16]) {
      const sent = await send(from, n);
      assert.equal(sent.code, 0, sent.serverLines.join('\n'));
    }
    const over = await send(from, 17);
    assert.match(rcptReply(over.stdout), /^450 4\.7\.1 .*over its limit/);
    assert.match(policy.output(), /released an abandoned transaction/);
  });

  test('a suppressed recipient is rejected at RCPT', async () => {
    const added = await sluiceCli([
      'suppressions',
      'add',
      'rcpt21@example.net',
      '-o',
      `data_dir=${path.join(dir, 'data')}`,
    ]);
    assert.equal(added.code, 0, added.stderr);
    const refused = await send('app@suppressed.example', 21);
    assert.notEqual(refused.code, 0);
    assert.match(
      rcptReply(refused.stdout),
      /^5\d\d 5\.7\.1 .*Recipient address <rcpt21@example\.net> is on the suppression list/,
    );
    const other = await send('app@suppressed.example', 22);
    assert.equal(other.code, 0, other.serverLines.join('\n'));
  });

  test('SIGTERM stops sluice policy cleanly', async () => {
    assert.equal(await policy.stop(), 0, policy.output());
    assert.match(policy.output(), /"msg":"stopped"/);
  });
});
