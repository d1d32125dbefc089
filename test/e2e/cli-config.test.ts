/**
 * Specifies the configuration commands as an administrator runs them: `config check` refuses a
 * port out of range and names the option a typo meant, while "25MB" is a size; `config show`
 * prints the effective configuration like postconf (every option, -n for those set, named options
 * or sections; an unknown name suggests the nearest); `config example` refuses a file it would
 * ignore; and `sluice serve` that cannot use an option's value (a port taken, a missing file, a data_dir under a file)
 * exits naming the option, not with a library's message alone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { sluiceCli } from '../harness/clients.js';
import { freePort } from '../harness/net.js';

let scratch: string;

before(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'sluice-e2e-config-'));
});

after(() => {
  rmSync(scratch, { recursive: true, force: true });
});

function file(name: string, lines: string[]): string {
  const written = path.join(scratch, name);
  writeFileSync(written, `${lines.join('\n')}\n`);
  return written;
}

test('config check: a port out of range and a mistyped option are named; 25MB is a size', async () => {
  const bad = file('bad.yaml', [
    'listen:',
    '  smtp: "127.0.0.1:99999"',
    '  submision: "127.0.0.1:2587"',
    'smtp:',
    '  max_message_size: 25MB',
  ]);
  const result = await sluiceCli(['config', 'check', bad]);
  assert.equal(result.code, 78);
  assert.match(result.stderr, /- listen\.smtp: port must be 1-65535, got 99999\n/);
  assert.match(result.stderr, /- listen\.submision: unknown option; did you mean listen\.submission\?\n/);
  assert.doesNotMatch(result.stderr, /max_message_size/);

  const good = file('good.yaml', ['smtp:', '  max_message_size: 25MB', '  max_header_size: 512KB']);
  const ok = await sluiceCli(['config', 'check', good]);
  assert.equal(ok.code, 0, ok.stderr);
});

test('config show prints every option, -n those set, or the named ones; an unknown name is refused', async () => {
  const config = file('show.yaml', [
    `data_dir: ${path.join(scratch, 'data')}`,
    'smtp:',
    '  max_message_size: 25MB',
    '  idle_timeout: 10m',
    'listen:',
    '  http: null',
  ]);
  const all = await sluiceCli(['config', 'show', '-c', config]);
  assert.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trimEnd().split('\n');
  assert.ok(lines.length > 50, 'every option');
  assert.ok(
    lines.every((line) => /^[a-z_.]+ = .+$/.test(line)),
    all.stdout,
  );
  assert.ok(lines.includes('listen.smtp = 127.0.0.1:2525'), 'a default');
  assert.ok(lines.includes('smtp.idle_timeout = 10m'), 'as written');
  assert.ok(lines.includes('delivery.retry_schedule = [1m, 5m, 15m, 30m, 1h, 2h, 4h]'));

  const set = await sluiceCli(['config', 'show', '-n', '-c', config, '-o', 'log.level=debug']);
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(set.stdout.trimEnd().split('\n'), [
    `data_dir = ${path.join(scratch, 'data')}`,
    'listen.http = null',
    'smtp.max_message_size = 25MB',
    'smtp.idle_timeout = 10m',
    'log.level = debug',
  ]);

  const named = await sluiceCli(['config', 'show', '-c', config, 'smtp.max_message_size', 'listen']);
  assert.deepEqual(named.stdout.trimEnd().split('\n'), [
    'smtp.max_message_size = 25MB',
    'listen.smtp = 127.0.0.1:2525',
    'listen.submission = 127.0.0.1:2587',
    'listen.http = null',
  ]);

  const unknown = await sluiceCli(['config', 'show', 'listen.smpt']);
  assert.equal(unknown.code, 64);
  assert.match(unknown.stderr, /unknown option "listen\.smpt"; did you mean listen\.smtp\?/);

  const invalid = await sluiceCli(['config', 'show', '-o', 'smtp.max_recipients=-1']);
  assert.equal(invalid.code, 78, 'an invalid configuration is reported, not shown');
  assert.match(invalid.stderr, /smtp\.max_recipients/);
});

test('config example refuses a file or overrides it would ignore', async () => {
  const result = await sluiceCli(['config', 'example', '-c', file('any.yaml', ['log:', '  level: warn'])]);
  assert.equal(result.code, 64);
  assert.match(result.stderr, /sluice config show -c FILE/);
  assert.equal((await sluiceCli(['config', 'example'])).code, 0);
});

test('sluice serve that cannot use an option names it: a port taken, a missing certificate', async () => {
  const port = await freePort();
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(port, '127.0.0.1', resolve));
  try {
    const common = [
      '-o',
      `data_dir=${path.join(scratch, 'serve')}`,
      '-o',
      'listen.submission=null',
      '-o',
      'listen.http=null',
    ];
    const busy = await sluiceCli(['serve', ...common, '-o', `listen.smtp=127.0.0.1:${port}`], 60_000);
    assert.equal(busy.code, 78, busy.stderr);
    assert.match(
      busy.stderr,
      new RegExp(`^sluice serve: listen\\.smtp \\(127\\.0\\.0\\.1:${port}\\): address already in use`, 'm'),
    );

    const free = await freePort();
    const missing = path.join(scratch, 'no-such-cert.pem');
    const noCert = await sluiceCli(
      [
        'serve',
        ...common,
        '-o',
        `listen.smtp=127.0.0.1:${free}`,
        '-o',
        `tls.cert=${missing}`,
        '-o',
        `tls.key=${missing}`,
      ],
      60_000,
    );
    assert.equal(noCert.code, 78, noCert.stderr);
    assert.match(noCert.stderr, new RegExp(`^sluice serve: tls\\.cert \\(${missing}\\): `, 'm'));

    const plainFile = file('not-a-dir', ['just a file']);
    const underFile = await sluiceCli(
      ['serve', '-o', `data_dir=${plainFile}/data`, '-o', `listen.smtp=127.0.0.1:${free}`],
      60_000,
    );
    assert.equal(underFile.code, 78, underFile.stderr);
    assert.match(
      underFile.stderr,
      /^sluice serve: data_dir \(.*not-a-dir\/data\): a part of the path is not a directory/m,
    );
  } finally {
    await new Promise((resolve) => taken.close(resolve));
  }
});
