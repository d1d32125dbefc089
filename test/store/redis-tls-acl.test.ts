/**
 * The connection options reach Redis: a real redis-server that only speaks TLS (its certificate
 * from a test CA) and only knows one ACL user. With rediss://, tls_ca, username and password the
 * stores open and work; without tls_ca the certificate is refused (verification stays on); a wrong
 * password is refused, and neither the error nor the CLI's output contains the password.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { generate } from 'selfsigned';
import { loadConfig } from '../../src/config/index.js';
import { KeyService } from '../../src/core/keys.js';
import { openStores } from '../../src/store/open.js';
import { sluiceCli } from '../harness/clients.js';
import { freePort } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

const PASSWORD = 'correct-horse-battery-staple-7';
let dir: string;
let redis: RedisServer;
let ca: string;
let port: number;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-redis-tls-'));
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    days: 1,
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  } as Parameters<typeof generate>[1]);
  ca = path.join(dir, 'cert.pem');
  writeFileSync(ca, pems.cert);
  writeFileSync(path.join(dir, 'key.pem'), pems.private);
  port = await freePort();
  redis = await startRedis({
    port,
    extraArgs: [
      ...['--port', '0', '--tls-port', String(port), '--tls-auth-clients', 'no'],
      ...['--tls-cert-file', ca, '--tls-key-file', path.join(dir, 'key.pem'), '--tls-ca-cert-file', ca],
      ...['--user', 'default', 'off', '--user', 'sluice', 'on', `>${PASSWORD}`, '~*', '&*', '+@all'],
    ],
  });
});

after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const overrides = (extra: string[]) => [
  `data_dir=${path.join(dir, 'data')}`,
  'store.backend=redis',
  `store.redis.url=rediss://127.0.0.1:${port}`,
  'store.redis.username=sluice',
  'store.redis.connect_timeout=2s',
  ...extra,
];

test('TLS with the given CA and an ACL user: the stores open and work', async () => {
  const stores = await openStores(
    loadConfig({ overrides: overrides([`store.redis.password=${PASSWORD}`, `store.redis.tls_ca=${ca}`]) }),
  );
  try {
    const keys = new KeyService(stores.keys);
    const { secret } = await keys.create({ label: 'tls', grants: ['smtp/inject'] });
    assert.equal((await keys.authenticate(secret, '127.0.0.1', 'smtp/inject')).ok, true);
  } finally {
    await stores.close();
  }
});

test('without tls_ca the self-made certificate is refused', async () => {
  await assert.rejects(
    openStores(loadConfig({ overrides: overrides([`store.redis.password=${PASSWORD}`]) })),
  );
});

test('a wrong password is refused, and the password is in no message', async () => {
  const wrong = 'not-the-password-but-secret-3';
  const config = loadConfig({
    overrides: overrides([`store.redis.password=${wrong}`, `store.redis.tls_ca=${ca}`]),
  });
  const error = await openStores(config).then(
    () => null,
    (e: Error) => e,
  );
  assert.match(String(error?.message), /WRONGPASS|invalid username-password/);
  assert.ok(!String(error?.stack).includes(wrong));
  const cli = await sluiceCli([
    'keys',
    'list',
    ...overrides([`store.redis.password=${wrong}`, `store.redis.tls_ca=${ca}`]).flatMap((o) => ['-o', o]),
  ]);
  assert.notEqual(cli.code, 0);
  assert.ok(!`${cli.stdout}${cli.stderr}`.includes(wrong), cli.stderr);
});
