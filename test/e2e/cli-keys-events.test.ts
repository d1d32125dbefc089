/**
 * Specifies the CLI commands an operator watches and manages Sluice with, next to a running
 * `sluice serve` on the same data dir: `keys list` shows id, label, grants and a four-character
 * prefix but never the key; `events tail` prints the last events and then follows new ones as the
 * server records them, filtered by type; `events search --recipient/--message-id` narrow results.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { createKey, searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { startSink } from '../harness/sink.js';
import { sluiceBin, startSluice } from '../harness/sluice-process.js';

const message = (subject: string) =>
  Buffer.from(`From: app@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`);

test('keys list names every key with its prefix and grants, and never prints a key', async () => {
  const sluice = await startSluice();
  try {
    const a = await createKey(sluice.dataDir, { label: 'app one' });
    const b = await createKey(sluice.dataDir, { label: 'reporting', grants: ['message_events/view'] });
    const listed = await sluiceCli(['keys', 'list', '-o', `data_dir=${sluice.dataDir}`]);
    assert.equal(listed.code, 0, listed.stderr);
    for (const key of [a, b]) {
      assert.ok(listed.stdout.includes(key.id), 'the id is listed');
      assert.ok(listed.stdout.includes(`${key.key.slice(0, 4)}…`), 'the prefix is listed');
      assert.ok(!listed.stdout.includes(key.key.slice(0, 12)), 'no more of the key than its prefix');
    }
    const json = await sluiceCli(['keys', 'list', '--json', '-o', `data_dir=${sluice.dataDir}`]);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(rows.map((r) => r.label).sort(), ['app one', 'reporting']);
    assert.ok(
      rows.every((r) => !('hash' in r) && !('key' in r)),
      'neither the key nor its hash is shown',
    );
    assert.deepEqual(rows.find((r) => r.id === b.id)?.grants, ['message_events/view']);
  } finally {
    await sluice.stop();
  }
});

test('events tail prints recent events, then follows new ones; search narrows by recipient and id', async () => {
  const sink = await startSink();
  const sluice = await startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  const tail = spawn(
    process.execPath,
    [sluiceBin, 'events', 'tail', '--json', '--type', 'delivery', '-o', `data_dir=${sluice.dataDir}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let tailed = '';
  tail.stdout.on('data', (chunk: Buffer) => {
    tailed += chunk.toString();
  });
  try {
    const first = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['first@tail.example'],
      data: message('one'),
    });
    await waitFor(() => tailed.includes('first@tail.example'), 15_000, 'the first delivery in the tail');
    const second = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['second@tail.example'],
      data: message('two'),
    });
    await waitFor(() => tailed.includes('second@tail.example'), 15_000, 'the second delivery in the tail');
    const events = tailed
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(
      events.every((e) => e.type === 'delivery'),
      'the --type filter holds while following',
    );
    assert.deepEqual(
      events.map((e) => e.message_id),
      [first.queuedId, second.queuedId],
    );

    const byRcpt = await searchEvents(sluice.dataDir, { recipient: 'second@tail.example' });
    assert.deepEqual(byRcpt.map((e) => e.type).sort(), ['delivery', 'injection']);
    const byId = await searchEvents(sluice.dataDir, { messageId: first.queuedId! });
    assert.ok(byId.length === 2 && byId.every((e) => e.rcpt_to === 'first@tail.example'));

    const backlog = await sluiceCli([
      'events',
      'tail',
      '--no-follow',
      '-n',
      '1',
      '-o',
      `data_dir=${sluice.dataDir}`,
    ]);
    assert.equal(backlog.stdout.trim().split('\n').length, 1, 'the last line only');
    assert.match(backlog.stdout, /delivery\s+\S+\s+second@tail\.example/);
  } finally {
    tail.kill();
    await sluice.stop();
    await sink.stop();
  }
});
