/**
 * An authenticated session whose key can no longer be checked: the key is re-read at every MAIL
 * (issue: a deleted key kept sending), and when the store is away that read fails. The door must
 * answer 451 4.3.0 at MAIL (try later) rather than let the message through unchecked or fail it
 * for good, stay up, and accept the same session's next MAIL once the store is back.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { createKey, RawSmtp } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let redis: RedisServer;
let sink: Sink;
let sluice: SluiceProcess;

before(async () => {
  redis = await startRedis({ persistent: true });
  sink = await startSink();
  sluice = await startSluice({
    overrides: {
      'store.backend': 'redis',
      'store.redis.url': redis.url,
      'store.redis.command_timeout': '500ms',
      'store.smtp_unavailable': 'defer',
      // Every MAIL reads the key from the store, so the outage is what MAIL meets.
      'smtp.key_cache': '0',
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
    },
  });
});

after(async () => {
  await sluice?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
  await sink?.stop();
  await redis?.stop();
});

test('MAIL in an authenticated session while the key store is down: 451 4.3.0, then accepted after recovery', async () => {
  const key = await createKey(sluice.dataDir, {
    label: 'recheck',
    extraArgs: ['-o', 'store.backend=redis', '-o', `store.redis.url=${redis.url}`],
  });
  const plain = await RawSmtp.open(sluice.submissionPort);
  assert.equal((await plain.command('EHLO client.example')).code, 250);
  const client = await plain.startTls();
  assert.equal((await client.command('EHLO client.example')).code, 250);
  const credentials = Buffer.from(`\0SMTP_Injection\0${key.key}`).toString('base64');
  const authenticated = await client.command(`AUTH PLAIN ${credentials}`);
  assert.equal(authenticated.code, 235, authenticated.raw);

  await redis.kill();
  const deferred = await client.command('MAIL FROM:<app@example.com>');
  assert.equal(deferred.code, 451, deferred.raw);
  assert.match(deferred.raw, /^451 4\.3\.0 /);
  assert.equal(client.isClosed, false, 'the session stays open for a later try');
  await waitFor(
    () => sluice.output().includes('key lookup failed: deferred at MAIL'),
    10_000,
    'the deferral is logged',
  );

  await redis.start();
  const accepted = await waitFor(
    async () => {
      const reply = await client.command('MAIL FROM:<app@example.com>');
      if (reply.code === 250) return reply;
      assert.equal(reply.code, 451, `only a temporary answer while Redis comes back: ${reply.raw}`);
      return null;
    },
    15_000,
    'MAIL accepted once Redis is back',
  );
  assert.equal(accepted?.code, 250);
  assert.equal((await client.command('RCPT TO:<someone@recheck.example>')).code, 250);
  assert.equal((await client.command('DATA')).code, 354);
  const queued = await client.command('Subject: recheck\r\n\r\nafter the outage\r\n.');
  assert.equal(queued.code, 250, queued.raw);
  await client.quit();
  await waitFor(() => sink.messages.some((m) => m.text.includes('after the outage')), 20_000, 'delivered');
});
