/**
 * The KeyStore contract, through KeyService, run against every adapter (embedded-keys.test.ts,
 * redis-stores.test.ts): a new key's secret is 40 lowercase hex characters shown once, and only
 * its SHA-256 (plus a 4-character prefix) is stored, so the secret is nowhere in the store's bytes;
 * authenticate() tells ok from malformed, unknown, missing grant and disallowed client address
 * (IPv4, IPv6 and IPv4-mapped IPv6); unknown grants and bad valid_ips are refused on create and
 * update; and a change made through one view of the store (the CLI) takes effect at once for
 * another (the running server, or another node), with no cache.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { hashSecret, KEY_PATTERN, KeyService } from '../../src/core/keys.js';
import type { KeyStore } from '../../src/store/types.js';

/** Two views of one store (two connections), and every byte the store holds. */
export interface KeyStoreViews {
  server: KeyStore;
  cli: KeyStore;
  bytes(): Promise<Buffer>;
  close(): Promise<void>;
}

export function keyContract(name: string, open: () => Promise<KeyStoreViews>): void {
  describe(`KeyService with the ${name} store`, () => {
    let views: KeyStoreViews;
    /** The running server's view. */
    let server: KeyService;
    /** The CLI's view: a second connection to the same store. */
    let cli: KeyService;

    before(async () => {
      views = await open();
      server = new KeyService(views.server);
      cli = new KeyService(views.cli);
    });

    after(async () => {
      await views.close();
    });

    test('create returns a 40-hex secret once and stores only its SHA-256 and a 4-character prefix', async () => {
      const { record, secret } = await cli.create({ label: 'app', grants: ['smtp/inject'] });
      assert.match(secret, /^[0-9a-f]{40}$/);
      assert.match(secret, KEY_PATTERN);
      assert.equal(record.hash, createHash('sha256').update(secret).digest('hex'));
      assert.equal(record.hash, hashSecret(secret));
      assert.equal(record.prefix, secret.slice(0, 4));
      assert.equal(record.last_used_at, null);
      const stored = await server.get(record.id);
      assert.ok(stored);
      assert.ok(!Object.values(stored).includes(secret), 'no stored field is the secret');

      const bytes = await views.bytes();
      assert.ok(bytes.includes(Buffer.from(record.hash)), 'the hash is in the store (control)');
      assert.ok(!bytes.includes(Buffer.from(secret)), 'the secret is not in the store');
      assert.ok(!bytes.includes(Buffer.from(secret.toUpperCase())));
    });

    test('two keys never share a secret', async () => {
      const a = await cli.create({ label: 'a', grants: ['smtp/inject'] });
      const b = await cli.create({ label: 'b', grants: ['smtp/inject'] });
      assert.notEqual(a.secret, b.secret);
      assert.notEqual(a.record.id, b.record.id);
    });

    test('authenticate: a valid key with the grant is ok and returns the record', async () => {
      const { record, secret } = await cli.create({
        label: 'ok',
        grants: ['smtp/inject', 'message_events/view'],
      });
      const result = await server.authenticate(secret, '203.0.113.9', 'smtp/inject');
      assert.equal(result.ok, true);
      assert.equal(result.ok && result.key.id, record.id);
      const touched = await cli.get(record.id);
      assert.ok(touched?.last_used_at, 'last_used_at is recorded');
    });

    test('authenticate: a well-formed secret that matches no key is unknown', async () => {
      const result = await server.authenticate(randomBytes(20).toString('hex'), '127.0.0.1', 'smtp/inject');
      assert.deepEqual(result, { ok: false, reason: 'unknown' });
    });

    test('authenticate: anything but 40 lowercase hex characters is malformed', async () => {
      const { secret } = await cli.create({ label: 'm', grants: ['smtp/inject'] });
      for (const bad of [
        '',
        'abc',
        secret.toUpperCase(),
        `${secret}0`,
        secret.slice(1),
        `${secret.slice(1)}g`,
      ]) {
        assert.deepEqual(await server.authenticate(bad, '127.0.0.1', 'smtp/inject'), {
          ok: false,
          reason: 'malformed',
        });
      }
    });

    test('authenticate: a key without the grant asked for is refused with reason grant, naming the key', async () => {
      const { secret, record } = await cli.create({ label: 'viewer', grants: ['message_events/view'] });
      assert.deepEqual(await server.authenticate(secret, '127.0.0.1', 'smtp/inject'), {
        ok: false,
        reason: 'grant',
        keyId: record.id,
        grants: ['message_events/view'],
      });
      assert.equal((await server.authenticate(secret, '127.0.0.1', 'message_events/view')).ok, true);
    });

    test('authenticate: valid_ips limits the client address (IPv4, IPv6, IPv4-mapped IPv6)', async () => {
      const { secret } = await cli.create({
        label: 'ips',
        grants: ['smtp/inject'],
        valid_ips: ['192.0.2.0/24', '2001:db8::/32', '198.51.100.7'],
      });
      const check = async (ip: string) => {
        const result = await server.authenticate(secret, ip, 'smtp/inject');
        return result.ok ? 'ok' : result.reason;
      };
      assert.equal(await check('192.0.2.200'), 'ok');
      assert.equal(await check('198.51.100.7'), 'ok');
      assert.equal(await check('2001:db8:1::1'), 'ok');
      assert.equal(await check('::ffff:192.0.2.1'), 'ok');
      assert.equal(await check('::FFFF:198.51.100.7'), 'ok');
      assert.equal(await check('192.0.3.1'), 'ip');
      assert.equal(await check('198.51.100.8'), 'ip');
      assert.equal(await check('2001:db9::1'), 'ip');
      assert.equal(await check('::ffff:10.0.0.1'), 'ip');
      assert.equal(await check('not-an-ip'), 'ip');
    });

    test('an empty valid_ips allows every address', async () => {
      const { secret } = await cli.create({ label: 'any', grants: ['smtp/inject'], valid_ips: [] });
      assert.equal((await server.authenticate(secret, '2001:db8::1', 'smtp/inject')).ok, true);
      assert.equal((await server.authenticate(secret, '10.9.8.7', 'smtp/inject')).ok, true);
    });

    test('create refuses unknown grants and invalid valid_ips, and stores nothing', async () => {
      const count = (await cli.list()).length;
      await assert.rejects(
        cli.create({ label: 'x', grants: ['smtp/inject', 'root'] }),
        /unknown grant.*root/,
      );
      await assert.rejects(cli.create({ label: 'x', grants: ['smtp/inject'], valid_ips: ['10.0.0.0/33'] }));
      await assert.rejects(cli.create({ label: 'x', grants: ['smtp/inject'], valid_ips: ['nope'] }));
      assert.equal((await cli.list()).length, count);
    });

    test('create removes duplicate grants', async () => {
      const { record } = await cli.create({ label: 'dup', grants: ['smtp/inject', 'smtp/inject'] });
      assert.deepEqual(record.grants, ['smtp/inject']);
      assert.deepEqual((await server.get(record.id))?.grants, ['smtp/inject']);
    });

    test('update through the CLI takes effect at once for the running server', async () => {
      const { record, secret } = await cli.create({ label: 'live', grants: ['smtp/inject'] });
      assert.equal((await server.authenticate(secret, '10.0.0.1', 'smtp/inject')).ok, true);

      await cli.update(record.id, { grants: ['message_events/view'] });
      assert.deepEqual(await server.authenticate(secret, '10.0.0.1', 'smtp/inject'), {
        ok: false,
        reason: 'grant',
        keyId: record.id,
        grants: ['message_events/view'],
      });

      await cli.update(record.id, { grants: ['smtp/inject'], valid_ips: ['192.0.2.0/24'] });
      assert.deepEqual(await server.authenticate(secret, '10.0.0.1', 'smtp/inject'), {
        ok: false,
        reason: 'ip',
        keyId: record.id,
        grants: ['smtp/inject'],
      });
      assert.equal((await server.authenticate(secret, '192.0.2.1', 'smtp/inject')).ok, true);

      const renamed = await cli.update(record.id, { label: 'renamed' });
      assert.equal(renamed?.label, 'renamed');
      assert.equal((await server.get(record.id))?.label, 'renamed');
      assert.deepEqual(
        (await server.get(record.id))?.valid_ips,
        ['192.0.2.0/24'],
        'a patch keeps other fields',
      );
    });

    test('update refuses unknown grants and bad valid_ips and leaves the key as it was', async () => {
      const { record } = await cli.create({ label: 'keep', grants: ['smtp/inject'] });
      await assert.rejects(cli.update(record.id, { grants: ['bogus'] }), /unknown grant/);
      await assert.rejects(cli.update(record.id, { valid_ips: ['300.0.0.1'] }));
      assert.deepEqual((await server.get(record.id))?.grants, ['smtp/inject']);
      assert.deepEqual((await server.get(record.id))?.valid_ips, []);
    });

    test('update of a key that does not exist returns null', async () => {
      assert.equal(await cli.update('0000000000000000', { label: 'x' }), null);
    });

    test('delete through the CLI takes effect at once for the running server', async () => {
      const { record, secret } = await cli.create({ label: 'doomed', grants: ['smtp/inject'] });
      assert.equal((await server.authenticate(secret, '127.0.0.1', 'smtp/inject')).ok, true);
      assert.equal(await cli.delete(record.id), true);
      assert.deepEqual(await server.authenticate(secret, '127.0.0.1', 'smtp/inject'), {
        ok: false,
        reason: 'unknown',
      });
      assert.equal(await server.get(record.id), null);
      assert.equal(await cli.delete(record.id), false, 'deleting twice says there was nothing');
    });

    test('a key created by the CLI authenticates at once in the running server', async () => {
      const { secret } = await cli.create({ label: 'new', grants: ['smtp/inject'] });
      assert.equal((await server.authenticate(secret, '127.0.0.1', 'smtp/inject')).ok, true);
    });

    test('list shows every key, oldest first', async () => {
      const keys = await server.list();
      assert.ok(keys.length >= 5);
      const stamps = keys.map((k) => k.created_at);
      assert.deepEqual(stamps, [...stamps].sort());
    });

    test('key defaults are stored, validated and updated through KeyService', async () => {
      const keys = server;
      const { record } = await keys.create({
        label: 'news',
        grants: ['smtp/inject'],
        defaults: { open_tracking: true, ip_pool: 'bulk' },
      });
      assert.deepEqual((await keys.get(record.id))?.defaults, { open_tracking: true, ip_pool: 'bulk' });
      await keys.update(record.id, { defaults: { click_tracking: false } });
      assert.deepEqual((await keys.get(record.id))?.defaults, { click_tracking: false });
      await assert.rejects(
        keys.create({ label: 'x', grants: ['smtp/inject'], defaults: { open_tracking: 'yes' as never } }),
        /defaults.open_tracking must be true or false/,
      );
      await assert.rejects(
        keys.update(record.id, { defaults: { ip_pool: 'no spaces' } }),
        /defaults.ip_pool/,
      );
    });

    test('insert refuses a second key with the same id or hash', async () => {
      const { record } = await cli.create({ label: 'unique', grants: ['smtp/inject'] });
      await assert.rejects(views.server.insert({ ...record, hash: 'f'.repeat(64) }));
      await assert.rejects(views.server.insert({ ...record, id: 'ffffffffffffffff' }));
    });
  });
}
