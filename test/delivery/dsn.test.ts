/**
 * Specifies the DSN composer: a multipart/report; report-type=delivery-status message whose three
 * parts come in RFC 3464's order, with per-message fields once and one block per failed recipient;
 * a multi-line peer reply becomes one Diagnostic-Code line, control characters go, and an overlong
 * reply is cut so no line nears SMTP's limit; the Status comes from the enhanced code or the basic one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { composeDsn, dsnStatus } from '../../src/delivery/dsn.js';

const input = {
  reportingMta: 'mx.sluice.test',
  to: 'sender@example.com',
  queueId: '0123456789abcdef0123',
  arrival: new Date('2026-11-23T10:00:00Z'),
  originalHeaders: Buffer.from('From: App <app@example.com>\r\nSubject: Hello\r\n'),
  now: new Date('2026-11-23T11:00:00Z'),
  failed: [
    {
      rcpt: 'a@example.net',
      status: '5.1.1',
      diagnostic: '550-5.1.1 The email account that you tried to reach does not exist.\n550 5.1.1 Try again.',
      remoteMta: 'mx.example.net',
      lastAttempt: new Date('2026-11-23T10:59:00Z'),
    },
    {
      rcpt: 'b@example.net',
      status: '5.4.7',
      diagnostic: `554 5.4.7 expired\u0000\u0007 ${'x'.repeat(2000)}`,
      lastAttempt: new Date('2026-11-23T10:59:30Z'),
    },
  ],
};

describe('composeDsn', () => {
  test('multipart/report with the human part, the status fields and the original headers, in order', async () => {
    const raw = (await composeDsn(input)).toString('utf8');
    const mail = await simpleParser(raw);
    const type = mail.headers.get('content-type') as { value: string; params: Record<string, string> };
    assert.equal(type.value, 'multipart/report');
    assert.equal(type.params['report-type'], 'delivery-status');
    const parts = raw.split(`--${type.params.boundary}`).slice(1, -1);
    assert.deepEqual(
      parts.map((p) => /Content-Type: ([^;\r\n]+)/.exec(p)?.[1]),
      ['text/plain', 'message/delivery-status', 'text/rfc822-headers'],
    );
    const status = parts[1]!;
    assert.equal(status.match(/^Reporting-MTA: dns; mx\.sluice\.test\r$/gm)?.length, 1);
    assert.match(status, /^Arrival-Date: Mon, 23 Nov 2026 10:00:00 \+0000\r$/m);
    assert.equal(status.match(/^Final-Recipient: /gm)?.length, 2);
    assert.match(
      status,
      /^Diagnostic-Code: smtp; 550-5\.1\.1 The email account that you tried to reach does not exist\. 550 5\.1\.1 Try again\.\r$/m,
    );
    assert.match(status, /^Remote-MTA: dns; mx\.example\.net\r$/m);
    assert.match(status, /^Status: 5\.4\.7\r$/m);
    assert.ok(!status.includes('\u0000') && !status.includes('\u0007'), 'control characters removed');
    for (const line of raw.split('\r\n')) assert.ok(line.length < 998, `line of ${line.length}`);
    assert.match(status, /x{100}\.\.\.\r$/m, 'the long reply is cut and marked');
    assert.equal(mail.subject, 'Undelivered Mail Returned to Sender');
    assert.equal(mail.to && !Array.isArray(mail.to) ? mail.to.value[0]?.address : '', 'sender@example.com');
    assert.match(parts[2]!, /Subject: Hello/);
  });

  test('dsnStatus: the enhanced code when valid, else from the basic code', () => {
    assert.equal(dsnStatus('5.1.1', 550), '5.1.1');
    assert.equal(dsnStatus(undefined, 554), '5.0.0');
    assert.equal(dsnStatus(undefined, 451), '4.0.0');
    assert.equal(dsnStatus('9.9.9', 550), '5.0.0');
  });
});
