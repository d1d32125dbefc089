/**
 * Specifies the cache of validated configurations the one-shot commands use: a configuration is
 * found again only for the same file bytes, the same overrides and the same working directory;
 * it is kept in a directory of the user's own (0700, files 0600), never in one others can write;
 * SLUICE_CONFIG_CACHE=off turns it off. Through the real CLI: editing the file is seen at once.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { lookupConfig } from '../../src/config/cache.js';
import { loadConfig } from '../../src/config/load.js';
import { runProgram } from '../harness/clients.js';
import { sluiceBin } from '../harness/sluice-process.js';

let dir: string;
let cacheHome: string;
const saved = { xdg: process.env.XDG_CACHE_HOME, off: process.env.SLUICE_CONFIG_CACHE };

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-config-cache-'));
});
beforeEach(() => {
  cacheHome = fs.mkdtempSync(path.join(dir, 'home-'));
  process.env.XDG_CACHE_HOME = cacheHome;
  delete process.env.SLUICE_CONFIG_CACHE;
});
after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  if (saved.xdg === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = saved.xdg;
  if (saved.off !== undefined) process.env.SLUICE_CONFIG_CACHE = saved.off;
});

function configFile(text: string): string {
  const file = path.join(dir, `c-${Math.random().toString(16).slice(2)}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

test('found again for the same file and overrides; not for other bytes or other overrides', () => {
  const file = configFile('smtp:\n  max_recipients: 7\n');
  const source = { file, overrides: ['log.level=debug'] };
  const first = lookupConfig(source);
  assert.equal(first.hit, null, 'empty cache');
  const config = loadConfig(source);
  first.store(config);
  const again = lookupConfig(source);
  assert.deepEqual(again.hit, JSON.parse(JSON.stringify(config)));
  assert.equal(again.hit?.smtp.max_recipients, 7);

  assert.equal(lookupConfig({ file, overrides: ['log.level=warn'] }).hit, null, 'other overrides');
  assert.equal(lookupConfig({ file, overrides: [] }).hit, null, 'no overrides');
  fs.writeFileSync(file, 'smtp:\n  max_recipients: 8\n');
  assert.equal(lookupConfig(source).hit, null, 'the file changed');

  const stored = fs.readdirSync(path.join(cacheHome, 'sluice'));
  assert.equal(stored.length, 1);
  assert.equal(fs.statSync(path.join(cacheHome, 'sluice')).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.join(cacheHome, 'sluice', stored[0]!)).mode & 0o777, 0o600);
});

test('never used from a directory others can write, nor when turned off', () => {
  const file = configFile('log:\n  level: warn\n');
  fs.mkdirSync(path.join(cacheHome, 'sluice'), { mode: 0o777 });
  fs.chmodSync(path.join(cacheHome, 'sluice'), 0o777);
  const open = lookupConfig({ file });
  open.store(loadConfig({ file }));
  assert.deepEqual(fs.readdirSync(path.join(cacheHome, 'sluice')), [], 'nothing written there');
  assert.equal(lookupConfig({ file }).hit, null);

  fs.chmodSync(path.join(cacheHome, 'sluice'), 0o700);
  process.env.SLUICE_CONFIG_CACHE = 'off';
  lookupConfig({ file }).store(loadConfig({ file }));
  assert.deepEqual(fs.readdirSync(path.join(cacheHome, 'sluice')), [], 'off: nothing written');
});

test('sluice keys list sees an edited configuration file at once', async () => {
  const env = { ...process.env, XDG_CACHE_HOME: cacheHome };
  const file = configFile(`data_dir: ${path.join(dir, 'one')}\n`);
  const create = await runProgram(
    process.execPath,
    [sluiceBin, 'keys', 'create', '--label', 'in-one', '--grant', 'smtp/inject', '-c', file],
    { env },
  );
  assert.equal(create.code, 0, create.stderr);
  const listOne = await runProgram(process.execPath, [sluiceBin, 'keys', 'list', '-c', file], { env });
  assert.match(listOne.stdout, /in-one/);
  assert.ok(fs.readdirSync(path.join(cacheHome, 'sluice')).length > 0, 'the configuration was cached');

  fs.writeFileSync(file, `data_dir: ${path.join(dir, 'two')}\n`);
  const listTwo = await runProgram(process.execPath, [sluiceBin, 'keys', 'list', '-c', file], { env });
  assert.equal(listTwo.code, 0, listTwo.stderr);
  assert.doesNotMatch(listTwo.stdout, /in-one/, 'the new data_dir is read, not the cached one');

  fs.writeFileSync(file, 'smtp:\n  max_recipients: -1\n');
  const bad = await runProgram(process.execPath, [sluiceBin, 'keys', 'list', '-c', file], { env });
  assert.equal(bad.code, 78, 'a bad file is refused, cache or not');
  assert.match(bad.stderr, /smtp\.max_recipients/);
});
