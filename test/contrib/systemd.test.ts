/**
 * The systemd units in contrib/systemd are units systemd accepts: `systemd-analyze verify` checks
 * their syntax, directives and that ExecStart's binary exists. sluice.service starts `sluice serve`,
 * sluice-auth.service `sluice auth`, sluice-policy.service `sluice policy` and sluice-milter.service
 * `sluice milter` (stage 0, next to Postfix), each with the same --config its ExecStartPre checks,
 * stopped with SIGTERM and reloaded with SIGHUP, files made 0600 (UMask=0077), and each rated 2.5
 * or less by `systemd-analyze security --offline=true`. The milter unit may create the socket
 * contrib/postfix/main.cf.milter documents, sluice.service the pickup directory the sendmail
 * wrapper (contrib/local-submission) uses, and the README names all four units.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const contrib = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../contrib/systemd');
const analyze = '/usr/bin/systemd-analyze';

/** Unit file name and the subcommand its ExecStart runs. */
const UNITS: Array<[string, string]> = [
  ['sluice.service', 'serve'],
  ['sluice-auth.service', 'auth'],
  ['sluice-policy.service', 'policy'],
  ['sluice-milter.service', 'milter'],
];

for (const [name, command] of UNITS) {
  const unit = path.join(contrib, name);

  test(`${name} starts sluice ${command} with a checked configuration file`, () => {
    const text = readFileSync(unit, 'utf8');
    const start = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
    const check = /^ExecStartPre=(.*)$/m.exec(text)?.[1] ?? '';
    const match = new RegExp(`bin/sluice\\.js ${command} --config (\\S+)( -o \\S+)*$`).exec(start);
    assert.ok(match, start);
    const configFile = match[1];
    assert.ok(check.endsWith(`config check ${configFile}`), 'ExecStartPre checks the file ExecStart uses');
    assert.match(text, /^KillSignal=SIGTERM$/m);
    assert.match(text, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    assert.match(text, /^UMask=0077$/m);
  });

  test(`systemd-analyze security rates ${name} 2.5 or less`, {
    skip: !existsSync(analyze) && 'systemd-analyze not installed',
  }, () => {
    const result = spawnSync(analyze, ['security', '--offline=true', '--no-pager', unit], {
      encoding: 'utf8',
    });
    const level = /Overall exposure level for \S+: (\d+\.\d+)/.exec(`${result.stdout}${result.stderr}`)?.[1];
    assert.ok(level, `${result.stdout}${result.stderr}`);
    assert.ok(Number(level) <= 2.5, `${name}: ${level}`);
  });

  test(`systemd-analyze verify accepts ${name}`, {
    skip: !existsSync(analyze) && 'systemd-analyze not installed',
  }, () => {
    const result = spawnSync(analyze, ['verify', '--man=no', unit], {
      encoding: 'utf8',
      // Warnings too: an unknown or misspelt directive is only a warning ("Unknown key ..., ignoring").
      env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' },
    });
    const complaints = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.includes(name));
    assert.deepEqual(complaints, [], complaints.join('\n'));
    assert.equal(result.status, 0);
    execFileSync(analyze, ['--version']);
  });
}

const unitText = (name: string) => readFileSync(path.join(contrib, name), 'utf8');

test('sluice-milter.service may create the unix socket main.cf.milter documents', () => {
  const mainCf = readFileSync(path.join(contrib, '../postfix/main.cf.milter'), 'utf8');
  const socket = /milter\.listen: unix:(\S+)/.exec(mainCf)?.[1];
  assert.ok(socket, 'main.cf.milter names a unix socket');
  const dir = path.dirname(socket);
  assert.ok(dir.startsWith('/var/spool/postfix/'), "inside Postfix's chroot");
  assert.match(mainCf, new RegExp(`install -d -o sluice -g postfix -m 2750 ${dir}`));
  const writable = [...unitText('sluice-milter.service').matchAll(/^ReadWritePaths=-?(\S+)$/gm)].map(
    (m) => m[1],
  );
  assert.ok(writable.includes(dir), `ReadWritePaths of ${dir}: ${writable.join(', ')}`);
  assert.match(unitText('sluice-milter.service'), /^ProtectSystem=strict$/m);
});

test('sluice.service keeps the pickup directory where the sendmail wrapper looks for it', () => {
  const unit = unitText('sluice.service');
  const dir = /-o pickup\.dir=(\S+)/.exec(unit)?.[1];
  assert.equal(dir, '/run/sluice/pickup');
  assert.match(unit, /^RuntimeDirectory=sluice$/m);
  assert.match(unit, /^RuntimeDirectoryMode=0755$/m, 'local users reach it');
  const wrapper = readFileSync(path.join(contrib, '../local-submission/sendmail'), 'utf8');
  assert.ok(wrapper.includes(`SLUICE_PICKUP_DIR:-${dir}`), 'the wrapper defaults to the same directory');
});

test('the README names all four units', () => {
  const readme = readFileSync(path.join(contrib, '../../README.md'), 'utf8');
  for (const [name] of UNITS) assert.ok(readme.includes(name), name);
});
