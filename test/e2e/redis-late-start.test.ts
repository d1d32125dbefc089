/**
 * Nodes that start before their Redis: `sluice serve` and `sluice policy` are pointed at a loopback
 * port where no Redis listens yet. Both start; while Redis is absent each door answers with its
 * configured outage behaviour (serve, store.smtp_unavailable: defer: AUTH 454 4.7.0, RCPT of a
 * trusted injection 451 4.3.0; policy, store_unavailable: defer: DEFER_IF_PERMIT 4.3.0). Then a
 * real redis-server starts on that port and, with no restart, a key created through the CLI
 * authenticates, mail is accepted and delivered, and the policy service decides normally again.
 * A wrong password, which no reconnect cures, still keeps a service from starting, without the
 * password appearing in its output.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createKey, nodemailerSend, nodemailerVerify, queuedId, runProgram } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { PolicyClient, rcpt } from '../harness/policy-client.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, sluiceBin, startSluice } from '../harness/sluice-process.js';

let dir: string;
let port: number;
let redis: RedisServer | null = null;
let sink: Sink;
let node: SluiceProcess;
let policy: SluiceService;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-redis-late-'));
  port = await freePort();
  sink = await startSink();
  const store = {
    'store.backend': 'redis',
    'store.redis.url': `redis://127.0.0.1:${port}`,
    'store.redis.command_timeout': '500ms',
    'store.redis.connect_timeout': '1s',
  };
  [node, policy] = await Promise.all([
    startSluice({
      overrides: {
        ...store,
        'store.smtp_unavailable': 'defer',
        'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
        'smtp.auth_failure_delay': '100ms',
      },
    }),
    startSluiceService('policy', {
      dataDir: path.join(dir, 'policy'),
      overrides: { ...store, 'policy.store_unavailable': 'defer' },
    }),
  ]);
});

after(async () => {
  await policy?.stop();
  await node?.stop();
  if (node) rmSync(node.dataDir, { recursive: true, force: true });
  await sink?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const auth = (key: string) =>
  nodemailerVerify({
    port: node.submissionPort,
    requireTLS: true,
    auth: { user: 'SMTP_Injection', pass: key },
  });

const send = (n: number) =>
  nodemailerSend({
    port: node.smtpPort,
    from: 'app@example.com',
    to: [`late-${n}@late.example`],
    raw: `From: app@example.com\r\nTo: late-${n}@late.example\r\nSubject: late ${n}\r\n\r\nmessage ${n}\r\n`,
  });

test('serve and policy start without Redis, answer with their outage behaviour, and recover when it appears', async () => {
  const client = await PolicyClient.connect(policy.port);
  try {
    assert.equal(
      await client.ask(rcpt('before', '')),
      'action=DEFER_IF_PERMIT 4.3.0 Policy store unavailable, try again later',
    );
    const refusedAuth = await auth('0'.repeat(40));
    assert.equal(refusedAuth.ok, false);
    assert.match(refusedAuth.response, /^454 4\.7\.0 /);
    const refusedMail = await send(0);
    assert.equal(refusedMail.ok, false);
    assert.match(refusedMail.response, /^451 4\.3\.0 /);

    redis = await startRedis({ port });
    const storeArgs = ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`];
    assert.equal(
      await waitFor(
        async () => (await client.ask(rcpt('after', ''))) === 'action=DUNNO' || null,
        20_000,
        'policy decides again',
      ),
      true,
    );
    const key = await createKey(path.join(dir, 'cli'), { label: 'late', extraArgs: storeArgs });
    const authed = await waitFor(async () => ((await auth(key.key)).ok ? true : null), 20_000, 'AUTH works');
    assert.equal(authed, true);
    // The client retries what was deferred, as any SMTP client does after a 4xx.
    const accepted = await waitFor(
      async () => {
        const sent = await send(0);
        return sent.ok ? (queuedId(sent.response) ?? null) : null;
      },
      20_000,
      'mail accepted',
    );
    assert.ok(accepted);
    await waitFor(
      () => sink.messages.some((m) => /message 0\r?\n/.test(m.text)) || null,
      30_000,
      'delivered',
    );
  } finally {
    client.end();
  }
  for (const output of [node.output(), policy.output()]) {
    assert.match(output, /redis not reachable at start/);
    assert.match(output, /"msg":"redis available"/);
  }
});

test('a wrong password still keeps a service from starting, and is in none of its output', async () => {
  const secured = await startRedis({ extraArgs: ['--requirepass', 'the-right-one-8'] });
  try {
    const wrong = 'wrong-password-but-secret-5';
    const result = await runProgram(
      process.execPath,
      [
        sluiceBin,
        'policy',
        ...[
          '-o',
          `data_dir=${path.join(dir, 'secured')}`,
          '-o',
          `policy.listen=127.0.0.1:${await freePort()}`,
        ],
        ...['-o', 'store.backend=redis', '-o', `store.redis.url=${secured.url}`],
        ...['-o', `store.redis.password=${wrong}`],
      ],
      { timeoutMs: 20_000 },
    );
    assert.notEqual(result.code, 0);
    assert.match(`${result.stdout}${result.stderr}`, /WRONGPASS|invalid username-password/);
    assert.ok(!`${result.stdout}${result.stderr}`.includes(wrong));
  } finally {
    await secured.stop();
  }
});
