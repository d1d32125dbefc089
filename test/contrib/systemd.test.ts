/**
 * The systemd units in contrib/systemd are units systemd accepts: `systemd-analyze verify` checks
 * their syntax, directives and that ExecStart's binary exists. sluice.service starts `sluice serve`,
 * sluice-auth.service `sluice auth` and sluice-policy.service `sluice policy` (stage 0, next to
 * Postfix), each with the same --config its ExecStartPre checks and stopped with SIGTERM.
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
    assert.match(start, new RegExp(`bin/sluice\\.js ${command} --config (\\S+)$`));
    const configFile = start.split(' ').at(-1);
    assert.ok(check.endsWith(`config check ${configFile}`), 'ExecStartPre checks the file ExecStart uses');
    assert.match(text, /^KillSignal=SIGTERM$/m);
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
