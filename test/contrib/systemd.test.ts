/**
 * contrib/systemd/sluice.service is a unit systemd accepts: `systemd-analyze verify` checks its
 * syntax, directives and that ExecStart's binary exists. It also starts `sluice serve` with the
 * same --config the unit's ExecStartPre checks.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const unit = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../contrib/systemd/sluice.service',
);
const analyze = '/usr/bin/systemd-analyze';

test('the unit starts sluice serve with a checked configuration file', () => {
  const text = readFileSync(unit, 'utf8');
  const start = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
  const check = /^ExecStartPre=(.*)$/m.exec(text)?.[1] ?? '';
  assert.match(start, /bin\/sluice\.js serve --config (\S+)$/);
  const configFile = start.split(' ').at(-1);
  assert.ok(check.endsWith(`config check ${configFile}`), 'ExecStartPre checks the file ExecStart uses');
  assert.match(text, /^KillSignal=SIGTERM$/m);
});

test('systemd-analyze verify accepts the unit', {
  skip: !existsSync(analyze) && 'systemd-analyze not installed',
}, () => {
  const result = spawnSync(analyze, ['verify', '--man=no', unit], {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_LOG_LEVEL: 'err' },
  });
  const complaints = `${result.stdout}${result.stderr}`
    .split('\n')
    .filter((line) => line.includes('sluice.service'));
  assert.deepEqual(complaints, [], complaints.join('\n'));
  assert.equal(result.status, 0);
  execFileSync(analyze, ['--version']);
});
