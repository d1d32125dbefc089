/**
 * Proves the Postfix harnesses work end to end: swaks → scratch Postfix → smtp-sink, with the body
 * checked in the sink's dump and the Postfix queue drained, then both torn down without leftovers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from './net.js';
import { type PostfixInstance, startPostfix } from './postfix.js';
import { type SmtpSink, startSmtpSink } from './smtp-sink.js';

const run = promisify(execFile);

test('a message sent into scratch Postfix arrives at smtp-sink', async () => {
  let sink: SmtpSink | undefined;
  let postfix: PostfixInstance | undefined;
  try {
    sink = await startSmtpSink({ dumpDir: true });
    postfix = await startPostfix({ relayhost: `[127.0.0.1]:${sink.port}` });
    const marker = `harness-check-${process.pid}-${Date.now()}`;
    await run(
      '/usr/bin/swaks',
      [
        '--server',
        `127.0.0.1:${postfix.port}`,
        '--from',
        'sender@example.com',
        '--to',
        'rcpt@example.net',
        '--header',
        'Subject: harness',
        '--body',
        marker,
      ],
      { timeout: 30_000 },
    );

    await sink.waitForCount(1, 30_000);
    const dumped = await waitFor(
      () => sink?.messages().find((m) => m.includes(marker)),
      5_000,
      'dumped body',
    );
    assert.ok(dumped);
    assert.match(dumped, /^X-Rcpt-Args: <rcpt@example\.net>/m);
    assert.match(dumped, /^Subject: harness$/m);
    await postfix.waitForEmptyQueue(10_000);
    assert.match(await postfix.postqueue(['-p']), /Mail queue is empty/);
    // postlogd writes the log asynchronously, so the line may trail the queue removal a little.
    await waitFor(() => /status=sent/.test(postfix?.log() ?? ''), 5_000, 'status=sent in the maillog');
    assert.equal(sink.count(), 1);
  } finally {
    await postfix?.stop();
    await sink?.stop();
  }
  assert.ok(postfix && !existsSync(postfix.dir), 'scratch dir removed');
  assert.ok(sink && !existsSync(sink.dumpDir ?? ''), 'dump dir removed');
});

test('two scratch instances run side by side without sharing anything', async () => {
  const started: PostfixInstance[] = [];
  try {
    started.push(...(await Promise.all([startPostfix(), startPostfix()])));
    const [a, b] = started;
    assert.ok(a && b);
    assert.notEqual(a.port, b.port);
    assert.notEqual(a.masterPid, b.masterPid);
    assert.notEqual(a.queueDir, b.queueDir);
  } finally {
    await Promise.all(started.map((p) => p.stop()));
  }
});
