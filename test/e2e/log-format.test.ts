/**
 * Specifies what an operator reads in the log of a real `sluice serve`: with log.format: text, a
 * delivery and a deferral are Postfix-style lines (to=<…> relay=host[ip]:port delay= dsn= status=
 * (reply)) with ISO times; JSON lines carry ISO times too; and a Redis outage is one line saying
 * what is down and what each door answers meanwhile, while the doors answer as configured (SMTP
 * AUTH 454, RCPT 451, the HTTP API 503) without a single line of the Redis client's wording or
 * stack in the log.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, test } from 'node:test';
import { apiClient } from '../harness/api-client.js';
import { createKey, nodemailerVerify, swaks } from '../harness/clients.js';
import { type FaultScript, startFaultSink } from '../harness/fault-sink.js';
import { waitFor } from '../harness/net.js';
import { startRedis } from '../harness/redis.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const started: SluiceProcess[] = [];
after(async () => {
  for (const sluice of started) {
    await sluice.stop();
    rmSync(sluice.dataDir, { recursive: true, force: true });
  }
});

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

test('log.format: text writes deliveries and deferrals as Postfix does; JSON has ISO times', async () => {
  const script: FaultScript = (rcpt) =>
    rcpt.startsWith('later@')
      ? { kind: 'reply', code: 451, text: '4.2.0 Try again later' }
      : { kind: 'accept' };
  const sink = await startFaultSink(script);
  try {
    const sluice = await startSluice({
      overrides: { 'log.format': 'text', 'delivery.relayhost': `[127.0.0.1]:${sink.port}` },
    });
    started.push(sluice);
    const sent = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['now@log.example', 'later@log.example'],
      data: Buffer.from('From: app@example.com\r\nSubject: log\r\n\r\nbody\r\n'),
    });
    assert.ok(sent.queuedId, sent.stdout);
    const id = sent.queuedId;
    const relay = `127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:${sink.port}`;
    const delivered = new RegExp(
      `^${ISO} sluice\\[\\d+\\]: message_id=${id} to=<now@log\\.example> relay=${relay} delay=[\\d.]+ dsn=2\\.0\\.0 status=sent \\(250 .*\\)$`,
      'm',
    );
    const deferred = new RegExp(
      `^${ISO} sluice\\[\\d+\\]: warning: message_id=${id} to=<later@log\\.example> relay=${relay} delay=[\\d.]+ dsn=4\\.2\\.0 status=deferred \\(451 4\\.2\\.0 Try again later\\)$`,
      'm',
    );
    await waitFor(
      () => delivered.test(sluice.output()) && deferred.test(sluice.output()),
      20_000,
      'both lines',
    );
    assert.match(
      sluice.output(),
      new RegExp(`^${ISO} sluice\\[\\d+\\]: listening listener=smtp address=`, 'm'),
    );
    assert.ok(!sluice.output().includes('{"level"'), 'no JSON in text mode');

    const json = await startSluice();
    started.push(json);
    const first = JSON.parse(json.output().split('\n')[0]!) as { time: unknown };
    assert.match(String(first.time), new RegExp(`^${ISO}$`));
  } finally {
    await sink.stop();
  }
});

test('a Redis outage is one line naming what is down and each door answer; no client wording or stack', async () => {
  const redis = await startRedis();
  try {
    const sluice = await startSluice({
      overrides: {
        'log.format': 'text',
        'store.backend': 'redis',
        'store.redis.url': redis.url,
        'store.redis.command_timeout': '300ms',
        'smtp.auth_failure_delay': '100ms',
        'delivery.relayhost': '[127.0.0.1]:9',
      },
    });
    started.push(sluice);
    const key = await createKey(sluice.dataDir, {
      grants: ['message_events/view'],
      extraArgs: ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`],
    });
    await redis.kill();

    const auth = await nodemailerVerify({
      port: sluice.submissionPort,
      requireTLS: true,
      auth: { user: 'SMTP_Injection', pass: 'a'.repeat(40) },
    });
    assert.match(auth.response, /^454 4\.7\.0/);
    const rcpt = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['someone@outage.example'],
      extra: ['--quit-after', 'RCPT'],
    });
    assert.ok(
      rcpt.serverLines.some((l) => l.startsWith('451 4.3.0')),
      rcpt.stdout,
    );
    const api = await apiClient(sluice.httpPort, key.key)('GET', '/api/v1/events/message');
    assert.equal(api.status, 503);
    assert.equal(api.body.errors[0].message, 'Service Unavailable');

    const down = sluice
      .output()
      .split('\n')
      .filter((line) => line.includes('redis unavailable'));
    assert.equal(down.length, 1, sluice.output());
    assert.match(
      down[0]!,
      new RegExp(
        `^${ISO} sluice\\[\\d+\\]: warning: redis unavailable store=redis at=127\\.0\\.0\\.1:${redis.port} reason=.+ answers="SMTP AUTH 454 4\\.7\\.0, sluice auth temporary failure \\(Postfix 454 4\\.7\\.0\\); SMTP RCPT 451 4\\.3\\.0; milter 451 4\\.3\\.0 at MAIL; policy DEFER_IF_PERMIT 4\\.3\\.0; HTTP API 503;`,
      ),
    );
    for (const noise of [
      'maxRetriesPerRequest',
      'MaxRetriesPerRequestError',
      'Command timed out',
      'ioredis',
      '    at ',
    ])
      assert.ok(!sluice.output().includes(noise), `"${noise}" in the log:\n${sluice.output()}`);
  } finally {
    await redis.stop();
  }
});
