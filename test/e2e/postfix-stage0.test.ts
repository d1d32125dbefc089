/**
 * Specifies stage 0 of a Postfix migration (Postfix delivers, Sluice decides) end to end: a real
 * scratch Postfix configured with the lines of contrib/postfix/main.cf.stage0 themselves (only the
 * two service addresses pointed at this test's ports), STARTTLS on a throw-away certificate,
 * relaying to a recording sink; `sluice auth` and `sluice policy` as real child processes on one
 * data dir (one key store), the policy with a per-key limit; swaks as the app, logging in with
 * SMTP_Injection and an API key. A valid key's mail is relayed and Postfix logs the key id as
 * sasl_username; the message past the key's limit is deferred at RCPT with the configured text
 * while another key's mail passes, and once the window has gone by the key sends again;
 * transactions aborted after RCPT use none of the key's quota; a wrong key gets 535; a client
 * outside mynetworks without AUTH gets Postfix's own relay refusal, before any policy question.
 * Postfix runs with one smtpd process (default_process_limit = 1), so every session reaches
 * `sluice policy` over the same policy connection: that is what lets the next transaction release
 * the one aborted before it (see contrib/postfix/README.md).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config/schema.js';
import { loadTlsPair } from '../../src/tls/certificate.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { createKey, runProgram, type SwaksResult, searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const STAGE0 = path.join(repoRoot, 'contrib/postfix/main.cf.stage0');
const USER = 'SMTP_Injection';
/** The per-key limit: LIMIT messages per WINDOW_S seconds. */
const WINDOW_S = 5;
const LIMIT = 2;
const OVER_LIMIT = 'DEFER_IF_PERMIT 4.7.1 Stage 0 key over its sending limit ({scope}), try again later';
/** mynetworks of this Postfix; apps connect from APP_ADDRESS, outside it, so only AUTH lets them relay. */
const MYNETWORKS = '127.0.0.1/32';
const APP_ADDRESS = '127.0.0.2';
/** Postfix's 250 after DATA, under TLS (its queue ids are upper-case hex). */
const POSTFIX_QUEUED = /^<~ {2}250 2\.0\.0 Ok: queued as [0-9A-F]+/m;

let dir: string;
let sink: Sink;
let auth: SluiceAuthProcess;
let policy: SluiceService;
let postfix: PostfixInstance;
let stage0: Map<string, string>;
const keys: Record<'first' | 'second' | 'aborter' | 'tagged', { id: string; key: string }> = {} as never;
let milter: SluiceService;

/** `name = value` settings of a main.cf excerpt, continuation lines folded in, comments skipped. */
function parseMainCf(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    if (/^\s/.test(line) && last !== undefined) {
      settings.set(last, `${settings.get(last)} ${line.trim()}`.trim());
      continue;
    }
    const match = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    assert.ok(match, `not a main.cf line: ${line}`);
    last = match[1]!;
    settings.set(last, match[2]!.trim());
  }
  return settings;
}

/** The policy settings under test (a per-key limit, a recognisable over-limit text) as a YAML file. */
function writePolicyConfig(): string {
  const config = path.join(dir, 'sluice.yaml');
  writeFileSync(
    config,
    [
      'policy:',
      `  over_limit_action: "${OVER_LIMIT}"`,
      '  limits:',
      '    key:',
      `      - { window: ${WINDOW_S}s, messages: ${LIMIT} }`,
      'log:',
      '  level: debug',
      '',
    ].join('\n'),
  );
  return config;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-stage0-'));
  chmodSync(dir, 0o755);
  const dataDir = path.join(dir, 'data');
  keys.first = await createKey(dataDir, { label: 'stage0 first app' });
  keys.second = await createKey(dataDir, { label: 'stage0 second app' });
  keys.aborter = await createKey(dataDir, { label: 'stage0 aborting app' });
  keys.tagged = await createKey(dataDir, { label: 'stage0 app with X-MSYS-API' });

  // Both services on the one data dir: the keys sluice auth accepts are the keys sluice policy knows.
  // A short failure delay: Postfix waits a limited time for AUTH answers, and one test fails on purpose.
  auth = await startSluiceAuth(dataDir, { 'auth.failure_delay': '50ms' });
  policy = await startSluiceService('policy', { dataDir, configFile: writePolicyConfig() });
  milter = await startSluiceService('milter', { dataDir });
  sink = await startSink();
  await loadTlsPair({ cert: null, key: null }, dir, 'sluice-test.localdomain');

  // The documented lines, as an admin pastes them; only the two service addresses change.
  stage0 = parseMainCf(readFileSync(STAGE0, 'utf8'));
  const defaults = configSchema.parse({});
  const authAt = `inet:${defaults.auth.listen}`;
  const policyAt = `check_policy_service inet:${defaults.policy.listen}`;
  assert.equal(stage0.get('smtpd_sasl_path'), authAt, 'contrib names the default auth.listen');
  assert.equal(stage0.get('smtpd_recipient_restrictions'), policyAt, 'contrib names policy.listen');
  assert.equal(stage0.get('smtpd_end_of_data_restrictions'), policyAt);
  const milterAt = defaults.milter.listen!;
  assert.equal(stage0.get('smtpd_milters'), milterAt, 'contrib names milter.listen');
  const settings: Record<string, string> = {};
  for (const [name, value] of stage0)
    settings[name] = value
      .replaceAll(authAt, `inet:127.0.0.1:${auth.port}`)
      .replaceAll(policyAt, `check_policy_service inet:127.0.0.1:${policy.port}`)
      .replaceAll(milterAt, `inet:127.0.0.1:${milter.port}`);

  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sink.port}`,
    mynetworks: MYNETWORKS,
    extraMainCf: {
      ...settings,
      // What main.cf.stage0 leaves to the site: this host's certificate.
      smtpd_tls_cert_file: path.join(dir, 'tls/cert.pem'),
      smtpd_tls_key_file: path.join(dir, 'tls/key.pem'),
      // One smtpd process, hence one policy connection for every session (see the header).
      default_process_limit: '1',
    },
  });
});

after(async () => {
  await postfix?.stop();
  await auth?.stop();
  await policy?.stop();
  await milter?.stop();
  await sink?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const message = (subject: string) =>
  Buffer.from(`From: app@example.com\r\nTo: you@example.net\r\nSubject: ${subject}\r\n\r\nHello.\r\n`);

/** One swaks session from the app's address; STARTTLS and AUTH PLAIN when a key is given. */
async function send(
  subject: string,
  key: string | null,
  options: { from?: string; extra?: string[]; localAddress?: string } = {},
): Promise<SwaksResult> {
  return await swaks({
    port: postfix.port,
    localAddress: options.localAddress ?? APP_ADDRESS,
    from: options.from ?? 'app@example.com',
    to: ['you@example.net'],
    tls: key !== null,
    ...(key !== null ? { auth: { user: USER, password: key } } : {}),
    data: message(subject),
    extra: options.extra ?? [],
  });
}

/** The server's reply to RCPT TO in swaks' transcript (plain "->" or, under TLS, "~>"). */
function rcptReply(stdout: string): string {
  const lines = stdout.split('\n');
  const rcpt = lines.findIndex((l) => /^ [-~]> RCPT TO:/.test(l));
  const reply = rcpt === -1 ? undefined : lines.slice(rcpt + 1).find((l) => /^<[-~*]+ +\d{3}[ -]/.test(l));
  return reply ? reply.replace(/^<[-~*]+ +/, '').trimEnd() : `(no RCPT reply in)\n${stdout}`;
}

function relayed(sent: SwaksResult): void {
  assert.equal(sent.code, 0, sent.stdout);
  assert.ok(
    sent.serverLines.some((l) => l.startsWith('235 ')),
    `AUTH accepted:\n${sent.stdout}`,
  );
  assert.match(sent.stdout, POSTFIX_QUEUED);
}

const atSink = (subject: string) =>
  waitFor(() => sink.messages.find((m) => m.text.includes(`Subject: ${subject}\r\n`)), 30_000, subject);

describe('stage 0: Postfix delivers, sluice auth and sluice policy decide', () => {
  test('Postfix knows every parameter of main.cf.stage0, milter lines included', async () => {
    // postconf warns "unused parameter: NAME=..." for a name Postfix does not know (a typo, or a
    // parameter that only means something with a master.cf service of that name).
    const checked = await runProgram('/usr/sbin/postconf', ['-c', postfix.configDir, '-n']);
    assert.equal(checked.code, 0, checked.stderr);
    const warnings = `${checked.stderr}\n${postfix.log()}`
      .split('\n')
      .filter((l) => /warning:/.test(l) && [...stage0.keys()].some((name) => l.includes(name)));
    assert.deepEqual(warnings, []);
    assert.equal(stage0.get('milter_default_action'), 'tempfail', 'unfiltered mail never passes');
    assert.match(stage0.get('milter_mail_macros') ?? '', /\{auth_authen\}/);
  });

  test("a valid key's message is relayed to the sink; Postfix logs the key id as sasl_username", async () => {
    relayed(await send('first 1', keys.first.key));
    await atSink('first 1');
    const logged = await waitFor(
      () => postfix.log().match(/sasl_method=PLAIN, sasl_username=(\S+)/),
      10_000,
      'sasl_username in the Postfix log',
    );
    assert.equal(logged?.[1], keys.first.id);
  });

  test('past its limit a key is deferred at RCPT with the configured text; another key still sends', async () => {
    // "first 1" above was the first of the key's LIMIT messages in this window.
    relayed(await send('first 2', keys.first.key));
    const over = await send('first 3', keys.first.key);
    assert.notEqual(over.code, 0);
    const reply = rcptReply(over.stdout);
    assert.match(reply, /^450 4\.7\.1 /, reply);
    assert.match(reply, /Stage 0 key over its sending limit \(key\), try again later/, reply);
    assert.doesNotMatch(over.stdout, POSTFIX_QUEUED);
    // Postfix logs the refusal too: that is where an admin sees limits at work.
    await waitFor(
      () => /NOQUEUE: reject: RCPT from .*: 450 4\.7\.1 .*over its sending limit \(key\)/.test(postfix.log()),
      10_000,
      'the deferral in the Postfix log',
    );

    // Limits are per key: the second key has its own budget.
    relayed(await send('second 1', keys.second.key));
    await atSink('first 2');
    await atSink('second 1');
    assert.match(postfix.log(), new RegExp(`sasl_username=${keys.second.id}\\b`));
    assert.equal(
      sink.messages.some((m) => m.text.includes('Subject: first 3')),
      false,
    );
  });

  test('once the window has gone by, the key sends again', async () => {
    // The sliding window forgets a burst completely after two windows.
    await sleep(2 * WINDOW_S * 1000 + 500);
    relayed(await send('first 4', keys.first.key));
    await atSink('first 4');
  });

  test("transactions aborted after RCPT use none of the key's quota", async () => {
    for (const n of [1, 2, 3]) {
      const aborted = await send(`aborted ${n}`, keys.aborter.key, { extra: ['--quit-after', 'RCPT'] });
      assert.equal(aborted.code, 0, aborted.stdout);
      assert.match(rcptReply(aborted.stdout), /^250 /);
    }
    // Three holds of a message each, yet the key's whole budget is still there.
    for (let n = 1; n <= LIMIT; n++) relayed(await send(`after aborts ${n}`, keys.aborter.key));
    await atSink(`after aborts ${LIMIT}`);
    assert.match(policy.output(), /released an abandoned transaction/);
    assert.equal(
      sink.messages.some((m) => m.text.includes('Subject: aborted')),
      false,
    );
  });

  test('a wrong key gets 535 and relays nothing', async () => {
    const sent = await send('wrong key', 'f'.repeat(40));
    assert.ok(
      sent.serverLines.some((l) => /^535 5\.7\.8 /.test(l)),
      sent.stdout,
    );
    assert.doesNotMatch(sent.stdout, POSTFIX_QUEUED);
  });

  test("without AUTH a client outside mynetworks gets Postfix's relay refusal; mynetworks still relays", async () => {
    const refused = await send('no auth', null);
    assert.match(rcptReply(refused.stdout), /^554 5\.7\.1 <you@example\.net>: Relay access denied/);
    assert.doesNotMatch(refused.stdout, /queued as/);

    const trusted = await send('from mynetworks', null, { localAddress: '127.0.0.1' });
    assert.equal(trusted.code, 0, trusted.stdout);
    await atSink('from mynetworks');
    assert.equal(
      sink.messages.some((m) => /Subject: (wrong key|no auth)\r\n/.test(m.text)),
      false,
    );
  });

  test('through the milter, X-MSYS-API is applied and removed, and the injection names the key', async () => {
    const data = Buffer.from(
      'From: app@example.com\r\nTo: you@example.net\r\nSubject: tagged\r\n' +
        'X-MSYS-API: {"campaign_id":"stage0-campaign","tags":["welcome"]}\r\n\r\nHello.\r\n',
    );
    const sent = await swaks({
      port: postfix.port,
      localAddress: APP_ADDRESS,
      from: 'app@example.com',
      to: ['you@example.net'],
      tls: true,
      auth: { user: USER, password: keys.tagged.key },
      data,
    });
    relayed(sent);
    const arrived = await atSink('tagged');
    assert.ok(arrived);
    assert.doesNotMatch(arrived.text, /X-MSYS-API/i);
    const id = /^X-Sluice-Message-ID: ?([0-9a-f]{20})\r?$/m.exec(arrived.text)?.[1];
    assert.ok(id, arrived.text);
    const [injection] = (await waitFor(
      async () => {
        const found = await searchEvents(path.join(dir, 'data'), { messageId: id, type: 'injection' });
        return found.length > 0 ? found : null;
      },
      10_000,
      'the injection event',
    )) as Record<string, unknown>[];
    assert.equal(injection?.api_key_id, keys.tagged.id);
    assert.equal(injection?.campaign_id, 'stage0-campaign');
    assert.deepEqual(injection?.rcpt_tags, ['welcome']);
  });

  test('no key ever reaches a log; every service stops cleanly on SIGTERM', async () => {
    for (const { key } of Object.values(keys)) {
      assert.ok(!postfix.log().includes(key), 'Postfix log');
      assert.ok(!auth.output().includes(key), 'sluice auth log');
      assert.ok(!policy.output().includes(key), 'sluice policy log');
      assert.ok(!milter.output().includes(key), 'sluice milter log');
    }
    assert.equal(await auth.stop(), 0, auth.output());
    assert.equal(await policy.stop(), 0, policy.output());
    assert.equal(await milter.stop(), 0, milter.output());
  });
});
