/**
 * String.prototype stays in V8's fast mode in a running node (see src/runtime/string-prototype.ts).
 * V8 reports the mode only with --allow-natives-syntax, so each case runs in a child process
 * with that flag and prints what %HasFastProperties says at each step.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const url = (file: string) => pathToFileURL(path.join(dist, file)).href;

/** Runs `steps` (ES module code) in a child; each `report('label')` prints label=fast|slow. */
function probe(steps: string): Record<string, string> {
  const script = `
    const report = (label) => console.log(label + '=' + (%HasFastProperties(String.prototype) ? 'fast' : 'slow'));
    ${steps}`;
  const out = execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      cwd: dist,
    },
  );
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string]),
  );
}

test('ioredis makes String.prototype slow, and restoreFastStringPrototype makes it fast again', () => {
  const seen = probe(`
    report('start');
    await import('ioredis');
    report('ioredis');
    const { restoreFastStringPrototype } = await import('${url('src/runtime/string-prototype.js')}');
    restoreFastStringPrototype();
    report('restored');`);
  // The middle step is the premise: if a new ioredis or V8 stops doing this, the repair can go.
  assert.deepEqual(seen, { start: 'fast', ioredis: 'slow', restored: 'fast' });
});

test('loading the Redis store leaves String.prototype fast', () => {
  const seen = probe(`
    await import('${url('src/store/redis/open.js')}');
    report('redis store');`);
  assert.deepEqual(seen, { 'redis store': 'fast' });
});

test('no module of the server or the CLI commands makes String.prototype slow', () => {
  // Every command module (main.js only dispatches, and runs on import): together they load all
  // that serve, milter, policy and auth load, the Redis store included.
  const commands = readdirSync(path.join(dist, 'src/cli'))
    .filter((f) => f.endsWith('.js') && f !== 'main.js')
    .map((f) => `await import('${url(`src/cli/${f}`)}');`);
  assert.ok(commands.length > 10, 'the CLI command modules are found');
  const seen = probe(`
    await import('${url('src/server.js')}');
    report('server');
    ${commands.join('\n')}
    report('commands');`);
  assert.deepEqual(seen, { server: 'fast', commands: 'fast' });
});
