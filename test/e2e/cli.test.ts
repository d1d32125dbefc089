/**
 * Specifies the `sluice` command line as a user runs it (node bin/sluice.js): `--help` exits 0 and
 * lists the commands; an unknown command exits non-zero; `config check` accepts a good file and, for a
 * bad one, exits non-zero naming the path of every bad key (and the line of a YAML syntax error);
 * `events search --type delivery --json` prints a JSON array of deliveries only, next to the
 * injection and bounce events a real `sluice serve` recorded in the same data dir.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let scratch: string;

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'sluice-e2e-cli-'));
});

after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

test('sluice --help exits 0 and lists the commands; an unknown command exits non-zero', async () => {
  const help = await sluiceCli(['--help']);
  assert.equal(help.code, 0, help.stderr);
  for (const command of [
    'serve',
    'config check',
    'keys create',
    'keys update',
    'keys delete',
    'events search',
  ])
    assert.match(help.stdout, new RegExp(`^\\s+${command}\\s`, 'm'), `"${command}" listed`);

  const unknown = await sluiceCli(['frobnicate']);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /unknown command/);
});

test('help for a group of commands and for one command, however it is asked', async () => {
  for (const args of [
    ['keys', '--help'],
    ['help', 'keys'],
  ]) {
    const group = await sluiceCli(args);
    assert.equal(group.code, 0, `${args.join(' ')}: ${group.stderr}`);
    for (const sub of ['create', 'list', 'update', 'delete'])
      assert.match(group.stdout, new RegExp(`sluice keys ${sub}\\b`), `${args.join(' ')} shows keys ${sub}`);
  }
  const queue = await sluiceCli(['help', 'queue']);
  assert.equal(queue.code, 0, queue.stderr);
  assert.match(queue.stdout, /sluice queue show ID/);
  assert.match(queue.stdout, /sluice queue hold /);

  for (const args of [
    ['keys', 'create', '--help'],
    ['help', 'keys', 'create'],
  ]) {
    const one = await sluiceCli(args);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^usage: sluice keys create /m);
    assert.match(one.stdout, /--config FILE/, 'the common options are listed too');
  }

  const bare = await sluiceCli(['keys']);
  assert.notEqual(bare.code, 0, 'a group without its command is a usage error');
  assert.match(bare.stderr, /sluice keys list/);

  const wrong = await sluiceCli(['keys', 'frobnicate']);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /unknown command "keys frobnicate"/);
  assert.match(wrong.stderr, /sluice keys create/, "the group's commands are shown");

  const nothing = await sluiceCli(['help', 'frobnicate']);
  assert.notEqual(nothing.code, 0);
  assert.match(nothing.stderr, /no command "frobnicate"/);
});

test('keys create --help and an unknown grant list the valid grants', async () => {
  const all = 'smtp/inject, transmissions/modify, transmissions/view, api_keys/manage, message_events/view';
  const help = await sluiceCli(['keys', 'create', '--help']);
  assert.equal(help.code, 0, help.stderr);
  assert.ok(help.stdout.includes(`grants: ${all}`), help.stdout);
  const bogus = await sluiceCli([
    'keys',
    'create',
    '--label',
    'x',
    '--grant',
    'bogus/grant',
    '-o',
    `data_dir=${path.join(scratch, 'grants')}`,
  ]);
  assert.notEqual(bogus.code, 0);
  assert.match(bogus.stderr, /unknown grant bogus\/grant; valid grants: smtp\/inject, transmissions\/modify/);
});

test('config check: a good file is ok; a bad one exits non-zero and names every bad key path', async () => {
  const good = path.join(scratch, 'good.yaml');
  writeFileSync(good, 'smtp:\n  max_recipients: 50\nrelay:\n  networks: ["10.0.0.0/8"]\n');
  const ok = await sluiceCli(['config', 'check', good]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /ok/);

  const bad = path.join(scratch, 'bad.yaml');
  writeFileSync(
    bad,
    [
      'listen:',
      '  smtp: "not-a-host-port"',
      'relay:',
      '  networks: ["127.0.0.0/8", "nonsense/99"]',
      'smtp:',
      '  max_recipients: -1',
      '  bogus_option: 1',
      '  idle_timeout: forever',
      'delivery:',
      '  retry_schedule: []',
      'unknown_top: true',
      '',
    ].join('\n'),
  );
  const result = await sluiceCli(['config', 'check', bad]);
  assert.notEqual(result.code, 0);
  const paths = [
    'listen.smtp',
    'relay.networks.1',
    'smtp.max_recipients',
    'smtp.bogus_option',
    'smtp.idle_timeout',
    'delivery.retry_schedule',
    'unknown_top',
  ];
  for (const keyPath of paths)
    assert.match(result.stderr, new RegExp(`^\\s+- ${keyPath.replace(/\./g, '\\.')}:`, 'm'), keyPath);
  assert.doesNotMatch(result.stderr, /relay\.networks\.0/, 'the good network is not reported');

  const broken = path.join(scratch, 'broken.yaml');
  writeFileSync(broken, 'smtp:\n  max_recipients: [1,\n');
  const syntax = await sluiceCli(['config', 'check', broken]);
  assert.notEqual(syntax.code, 0);
  assert.match(syntax.stderr, /YAML syntax.*line \d+/);
});

test('events search --type delivery --json prints a JSON array of delivery events only', async () => {
  let sink: Sink | undefined;
  let sluice: SluiceProcess | undefined;
  try {
    sink = await startSink({
      replyFor: (rcpt) => (rcpt.startsWith('gone') ? [550, '5.1.1 No such user'] : undefined),
    });
    // No DSN for the bounce: its delivery would be a third delivery event.
    sluice = await startSluice({
      overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'bounces.dsn': false },
    });
    const result = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['one@cli.example', 'two@cli.example', 'gone@cli.example'],
      data: Buffer.from('From: app@example.com\r\nSubject: cli\r\n\r\nbody\r\n'),
    });
    assert.equal(result.code, 0, result.stdout);
    const dataDir = sluice.dataDir;
    await waitFor(
      async () => (await searchEvents(dataDir)).filter((e) => e.type !== 'injection').length === 3,
      15_000,
      'two deliveries and a bounce',
    );

    const search = await sluiceCli([
      'events',
      'search',
      '-o',
      `data_dir=${dataDir}`,
      '--type',
      'delivery',
      '--json',
    ]);
    assert.equal(search.code, 0, search.stderr);
    const events = JSON.parse(search.stdout) as Array<Record<string, unknown>>;
    assert.equal(events.length, 2, search.stdout);
    assert.ok(events.every((e) => e.type === 'delivery'));
    assert.deepEqual(events.map((e) => e.rcpt_to).sort(), ['one@cli.example', 'two@cli.example']);
    assert.ok(events.every((e) => e.message_id === result.queuedId));

    const all = await searchEvents(dataDir);
    assert.deepEqual(
      all.map((e) => e.type).sort(),
      ['bounce', 'delivery', 'delivery', 'injection', 'injection', 'injection'],
      'the data dir holds other types too',
    );
  } finally {
    await sluice?.stop();
    await sink?.stop();
    if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
  }
});
