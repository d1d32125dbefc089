/**
 * Specifies the rules of local submission (src/core/local-submission.ts), as Postfix's sendmail,
 * pickup and cleanup apply them: the default sender is the user at the origin, unqualified
 * addresses get the origin, -t reads To/Cc/Bcc (Resent-* when present) on top of the arguments,
 * Bcc never travels, missing From/Date/Message-ID are added (From with -F's name), a message
 * without a header section gets them in front, and bad addresses or no recipient are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prepareLocalSubmission } from '../../src/core/local-submission.js';
import { Rejection } from '../../src/core/reply.js';

const NOW = new Date('2026-05-01T12:00:00Z');
const request = {
  sender: null as string | null,
  recipients: [] as string[],
  extract: false,
  fullName: null as string | null,
};
const run = (message: string, changes: Partial<typeof request> = {}) =>
  prepareLocalSubmission(Buffer.from(message), { ...request, ...changes }, 'alice', 'host.example', NOW);

test('sender, recipients and qualification', () => {
  const plain = run('Subject: x\n\nbody\n', { recipients: ['root', 'b@example.net, c@example.net'] });
  assert.equal(plain.mailFrom, 'alice@host.example');
  assert.deepEqual(plain.rcpts, ['root@host.example', 'b@example.net', 'c@example.net']);
  assert.equal(
    run('Subject: x\n\nb\n', { sender: 'app', recipients: ['x@y.example'] }).mailFrom,
    'app@host.example',
  );
  assert.equal(run('Subject: x\n\nb\n', { sender: '', recipients: ['x@y.example'] }).mailFrom, '');
});

test('-t: To, Cc and Bcc (or the Resent- set), Bcc removed either way', () => {
  const extracted = run(
    'To: A <a@example.net>, root\nCc: undisclosed:b@example.net;\nBcc: c@example.net\nSubject: s\n\nbody\n',
    {
      extract: true,
      recipients: ['d@example.net'],
    },
  );
  assert.deepEqual(extracted.rcpts, [
    'd@example.net',
    'a@example.net',
    'root@host.example',
    'b@example.net',
    'c@example.net',
  ]);
  assert.doesNotMatch(extracted.message.toString(), /^Bcc:/im);
  const resent = run(
    'To: old@example.net\nResent-To: new@example.net\nResent-Bcc: hidden@example.net\n\nb\n',
    { extract: true },
  );
  assert.deepEqual(resent.rcpts, ['new@example.net', 'hidden@example.net']);
  assert.doesNotMatch(resent.message.toString(), /Resent-Bcc/i);
  const notExtracted = run('To: a@example.net\nBcc: c@example.net\n\nb\n', { recipients: ['z@example.net'] });
  assert.deepEqual(notExtracted.rcpts, ['z@example.net']);
  assert.doesNotMatch(notExtracted.message.toString(), /^Bcc:/im);
});

test('missing From, Date and Message-ID are added; present ones are kept', () => {
  const added = run('Subject: s\n\nbody\n', {
    recipients: ['x@example.net'],
    fullName: 'Cron Daemon',
  }).message.toString();
  assert.match(
    added,
    /^Subject: s\r\nFrom: "Cron Daemon" <alice@host\.example>|^Subject: s\r\nFrom: Cron Daemon <alice@host\.example>/,
  );
  assert.match(added, /\r\nDate: Fri, 01 May 2026 12:00:00 \+0000\r\n/);
  assert.match(added, /\r\nMessage-ID: <[^>]+@host\.example>\r?\n/);
  assert.ok(added.endsWith('\n\nbody\n'));
  const kept = run('From: me@example.com\nDate: x\nMessage-ID: <m@x>\n\nb\n', {
    recipients: ['x@example.net'],
  }).message.toString();
  assert.equal(kept, 'From: me@example.com\r\nDate: x\r\nMessage-ID: <m@x>\n\nb\n');
  const bodyOnly = run('just a line of text\n', { recipients: ['x@example.net'] }).message.toString();
  assert.match(
    bodyOnly,
    /^From: <alice@host\.example>\r\nDate: .*\r\nMessage-ID: .*\r\n\r\njust a line of text\n$/,
  );
});

test('no recipient, a bad address: refused with a reply', () => {
  assert.throws(
    () => run('Subject: s\n\nb\n', { extract: true }),
    (e: unknown) => e instanceof Rejection && e.code === 554,
  );
  assert.throws(
    () => run('Subject: s\n\nb\n', { recipients: ['x@@example.net'] }),
    (e: unknown) => e instanceof Rejection && e.enhanced === '5.1.3',
  );
  assert.throws(
    () => run('Subject: s\n\nb\n', { sender: 'bad sender', recipients: ['x@example.net'] }),
    (e: unknown) => e instanceof Rejection && e.enhanced === '5.1.7',
  );
});
