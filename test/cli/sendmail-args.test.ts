/**
 * Specifies the sendmail(1) command line of `sluice sendmail` (src/cli/sendmail-args.ts) against
 * the way real callers use it and Postfix's sendmail reads it: PHP's "-t -i", cron's
 * "-FCronDaemon -i -B8BITMIME -oem root", mutt's "-oem -oi --", clustered flags, attached and
 * separate option arguments, the options Postfix ignores, the modes, and the refusals by name;
 * and the end of input: a lone "." ends the message unless -i.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/command.js';
import { messageFromInput, parseSendmailArgs } from '../../src/cli/sendmail-args.js';

test('what real callers pass', () => {
  const php = parseSendmailArgs(['-t', '-i']);
  assert.deepEqual([php.mode, php.extract, php.ignoreDots, php.recipients], ['deliver', true, true, []]);
  const cron = parseSendmailArgs(['-FCronDaemon', '-i', '-B8BITMIME', '-oem', 'root']);
  assert.deepEqual([cron.fullName, cron.ignoreDots, cron.recipients], ['CronDaemon', true, ['root']]);
  const mutt = parseSendmailArgs(['-oem', '-oi', '--', 'a@example.net', 'b@example.net']);
  assert.deepEqual([mutt.ignoreDots, mutt.recipients], [true, ['a@example.net', 'b@example.net']]);
  const clustered = parseSendmailArgs(['-tif', 'app@example.com', '-F', 'App Name', '-odb', '-odi', '-oee']);
  assert.deepEqual(
    [clustered.extract, clustered.ignoreDots, clustered.sender, clustered.fullName],
    [true, true, 'app@example.com', 'App Name'],
  );
  assert.equal(parseSendmailArgs(['-f<>', 'x@example.net']).sender, '');
  assert.equal(parseSendmailArgs(['-r', 'bounce@example.com', 'x@example.net']).sender, 'bounce@example.com');
  const ours = parseSendmailArgs([
    '--pickup-dir',
    '/run/sluice/pickup',
    '-C',
    '/etc/sluice/sluice.yaml',
    '-t',
  ]);
  assert.deepEqual([ours.pickupDir, ours.config], ['/run/sluice/pickup', '/etc/sluice/sluice.yaml']);
});

test('ignored as Postfix ignores them; modes; refusals by name', () => {
  const ignored = parseSendmailArgs([
    '-Am',
    '-G',
    '-h',
    '10',
    '-L',
    'label',
    '-m',
    '-n',
    '-O',
    'x=y',
    '-o7',
    '-U',
    '-X',
    '/tmp/log',
    '-q30m',
    'x@example.net',
  ]);
  assert.deepEqual(ignored.recipients, ['x@example.net']);
  assert.equal(parseSendmailArgs(['-bp']).mode, 'mailq');
  assert.equal(parseSendmailArgs(['-bi']).mode, 'newaliases');
  assert.equal(parseSendmailArgs(['-I']).mode, 'newaliases');
  assert.deepEqual(parseSendmailArgs(['-q']).mode, 'flush');
  assert.deepEqual(parseSendmailArgs(['-qIabc']).flush, { id: 'abc' });
  assert.deepEqual(parseSendmailArgs(['-qRexample.com']).flush, { domain: 'example.com' });
  for (const [args, text] of [
    [['-bs'], /-bs/],
    [['-bd'], /daemon/],
    [['-bv', 'x@example.net'], /verification/],
    [['-N', 'never', 'x@example.net'], /DSN/],
    [['-V', 'id', 'x@example.net'], /envelope id/],
    [['-XV', 'x@example.net'], /VERP/],
    [['-qSsender'], /sender/],
    [['-Y'], /unknown option -Y/],
    [['-f'], /-f needs a value/],
    [['-i'], /recipient addresses must be given/],
  ] as Array<[string[], RegExp]>)
    assert.throws(
      () => parseSendmailArgs(args),
      (error: unknown) => error instanceof UsageError && text.test(error.message),
      args.join(' '),
    );
});

test('a lone "." ends the input unless -i', () => {
  const input = Buffer.from('Subject: x\r\n\r\nline\r\n.\r\nafter\r\n');
  assert.equal(messageFromInput(input, false).toString(), 'Subject: x\r\n\r\nline\r\n');
  assert.equal(messageFromInput(input, true).toString(), input.toString());
  assert.equal(messageFromInput(Buffer.from('a\n.'), false).toString(), 'a\n');
  assert.equal(messageFromInput(Buffer.from('a\n..\nb\n'), false).toString(), 'a\n..\nb\n');
});
