/**
 * Specifies delivery to a peer that is not ours: Postfix's own smtp-sink. A message injected with
 * swaks reaches smtp-sink with Sluice's envelope, X-MSYS-API removed and the body intact, and the
 * delivery event names the reply smtp-sink gave.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { searchEvents, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { startSluice } from '../harness/sluice-process.js';
import { startSmtpSink } from '../harness/smtp-sink.js';

test("a message relayed to Postfix's smtp-sink arrives with X-MSYS-API removed and is recorded as delivered", async () => {
  const sink = await startSmtpSink({ dumpDir: true });
  const sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  try {
    const body = 'Hello from the app.\r\nA second line with an 8-bit \u00e9 character.\r\n';
    const data = Buffer.from(
      `From: App <app@example.com>\r\nTo: user@dest.example\r\nSubject: sink test\r\n` +
        `X-MSYS-API: {"campaign_id":"sink-test","tags":["t1"]}\r\n\r\n${body}`,
    );
    const sent = await swaks({
      port: sluice.smtpPort,
      from: 'bounces@example.com',
      to: ['user@dest.example'],
      data,
    });
    assert.ok(sent.queuedId, sent.stdout);
    await sink.waitForCount(1, 15_000);
    const dumped: string = await waitFor(() => sink.messages()[0] ?? '', 5_000, 'the dump file');
    assert.match(dumped, /^X-Mail-Args: <bounces@example\.com>/m, 'the envelope sender');
    assert.match(dumped, /^X-Rcpt-Args: <user@dest\.example>/m, 'the envelope recipient');
    assert.match(
      dumped,
      new RegExp(
        `^Received: from \\S+ \\(\\[127\\.0\\.0\\.1\\]\\)\\s+by \\S+ \\(Sluice\\) with ESMTP id ${sent.queuedId}`,
        'm',
      ),
    );
    assert.doesNotMatch(dumped, /X-MSYS-API/i);
    // smtp-sink writes its dump files with LF line ends; the bytes are otherwise as received.
    const expected = Buffer.from(`Subject: sink test\r\n\r\n${body}`.replaceAll('\r\n', '\n'));
    assert.ok(Buffer.from(dumped, 'latin1').includes(expected), 'header order and body bytes intact');
    const events = (await waitFor(
      async () => {
        const found = await searchEvents(sluice.dataDir, { type: 'delivery' });
        return found.length > 0 ? found : null;
      },
      15_000,
      'the delivery event',
    )) as Record<string, unknown>[];
    const delivered = events[0]!;
    assert.equal(delivered.message_id, sent.queuedId);
    assert.equal(delivered.campaign_id, 'sink-test');
    assert.deepEqual(delivered.rcpt_tags, ['t1']);
  } finally {
    await sluice.stop();
    await sink.stop();
  }
});
