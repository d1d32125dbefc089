/**
 * Specifies the rule for keys acting on keys (core/key-authority.ts) and the network arithmetic
 * under it (core/address-ranges.ts): grants must be a subset of the actor's; an unbound actor
 * (no valid_ips) may give any valid_ips; a bound actor only valid_ips inside its own, never none,
 * with IPv4, IPv6 and IPv4-mapped forms compared as the same addresses and adjacent networks
 * joining up. DelegatedKeys applies it to create, update (before and after) and delete against
 * a real KeyService on the embedded store; the operator's KeyService stays unlimited.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { addressValue, cidrRange, rangesCover } from '../../src/core/address-ranges.js';
import { DelegatedKeys, KeyAuthorityError, outsideAuthority } from '../../src/core/key-authority.js';
import { KeyService } from '../../src/core/keys.js';
import { openStores } from '../../src/store/open.js';

describe('address ranges', () => {
  test('IPv4 is the IPv4-mapped block of IPv6; prefixes mask host bits', () => {
    assert.equal(addressValue('10.1.2.3'), addressValue('::ffff:10.1.2.3'));
    assert.equal(addressValue('10.1.2.3'), addressValue('::ffff:a01:203'));
    assert.deepEqual(cidrRange('10.1.2.3/8'), cidrRange('::ffff:10.0.0.0/104'));
    assert.equal(cidrRange('2001:db8::/32').last, addressValue('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'));
    assert.equal(cidrRange('::/0').first, 0n);
    assert.equal(addressValue('::1'), 1n);
    assert.equal(addressValue('fe80::1%eth0'), addressValue('fe80::1'));
    assert.throws(() => cidrRange('10.0.0.0/33'));
    assert.throws(() => cidrRange('nonsense'));
  });

  test('coverage: inside, outside, across adjacent networks, and across families', () => {
    assert.ok(rangesCover(['10.0.0.0/8'], ['10.1.0.0/16', '10.2.3.4']));
    assert.ok(!rangesCover(['10.0.0.0/8'], ['10.0.0.0/7']));
    assert.ok(!rangesCover(['10.0.0.0/8'], ['11.0.0.1']));
    assert.ok(rangesCover(['10.0.0.0/25', '10.0.0.128/25'], ['10.0.0.0/24']), 'adjacent halves join');
    assert.ok(!rangesCover(['10.0.0.0/25', '10.0.0.192/26'], ['10.0.0.0/24']), 'a gap is not covered');
    assert.ok(rangesCover(['127.0.0.0/8'], ['::ffff:127.0.0.1']));
    assert.ok(!rangesCover(['127.0.0.0/8'], ['::ffff:0:0/96']), 'all of IPv4, written as IPv6');
    assert.ok(!rangesCover(['127.0.0.0/8'], ['::/0']));
    assert.ok(rangesCover(['2001:db8::/32'], ['2001:db8:1::/48']));
    assert.ok(!rangesCover(['2001:db8::/32'], ['2001:db9::1']));
  });
});

describe('outsideAuthority', () => {
  const unbound = { grants: ['api_keys/manage', 'smtp/inject'], valid_ips: [] };
  const bound = { grants: ['api_keys/manage', 'smtp/inject'], valid_ips: ['192.0.2.0/24'] };

  test('grants the actor does not hold are named', () => {
    const outside = outsideAuthority(unbound, { grants: ['smtp/inject', 'webhooks/modify'], valid_ips: [] });
    assert.equal(outside?.field, 'grants');
    assert.match(outside!.reason, /webhooks\/modify/);
    assert.ok(!outside!.reason.includes('smtp/inject'));
    assert.equal(outsideAuthority(unbound, { grants: ['smtp/inject'], valid_ips: [] }), null);
  });

  test('an unbound actor may give any valid_ips; a bound one only inside its own, never none', () => {
    assert.equal(outsideAuthority(unbound, { grants: [], valid_ips: ['0.0.0.0/0'] }), null);
    assert.equal(outsideAuthority(bound, { grants: ['smtp/inject'], valid_ips: ['192.0.2.7'] }), null);
    assert.equal(outsideAuthority(bound, { grants: [], valid_ips: [] })?.field, 'valid_ips');
    assert.equal(outsideAuthority(bound, { grants: [], valid_ips: ['192.0.2.0/23'] })?.field, 'valid_ips');
    assert.equal(
      outsideAuthority(bound, { grants: [], valid_ips: ['192.0.2.1', '198.51.100.1'] })?.field,
      'valid_ips',
    );
  });
});

describe('DelegatedKeys on a real key store', () => {
  let keys: KeyService;
  let close: () => Promise<void>;
  before(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-authority-'));
    const stores = await openStores(loadConfig({ overrides: [`data_dir=${dir}`] }));
    keys = new KeyService(stores.keys);
    close = async () => {
      await stores.close();
      rmSync(dir, { recursive: true, force: true });
    };
  });
  after(async () => await close());

  test('create, update and delete stay within the acting key; the operator is not limited', async () => {
    const full = await keys.create({ label: 'operator made', grants: ['smtp/inject', 'webhooks/modify'] });
    const manager = (await keys.create({ label: 'mgr', grants: ['api_keys/manage', 'smtp/inject'] })).record;
    const as = new DelegatedKeys(keys, manager);

    await assert.rejects(
      as.create({ label: 'x', grants: ['smtp/inject', 'webhooks/modify'] }),
      (error: unknown) => error instanceof KeyAuthorityError && error.field === 'grants',
    );
    const made = (await as.create({ label: 'y', grants: ['smtp/inject'], valid_ips: ['192.0.2.1'] })).record;
    await assert.rejects(as.update(made.id, { grants: ['webhooks/modify'] }), KeyAuthorityError);
    const opened = await as.update(made.id, { valid_ips: [] });
    assert.deepEqual(opened?.valid_ips, [], 'an unbound actor may unbind a key within its grants');

    await assert.rejects(as.update(full.record.id, { label: 'renamed' }), /outside this key's authority/);
    await assert.rejects(as.delete(full.record.id), KeyAuthorityError);
    assert.equal((await keys.get(full.record.id))?.label, 'operator made', 'untouched');
    assert.equal(await as.update('0000000000000000', { label: 'z' }), null);
    assert.equal(await as.delete('0000000000000000'), false);
    assert.equal(await as.delete(made.id), true);

    const bound = new DelegatedKeys(keys, { ...manager, valid_ips: ['192.0.2.0/24'] });
    const inside = (await bound.create({ label: 'in', grants: [], valid_ips: ['192.0.2.128/25'] })).record;
    await assert.rejects(bound.update(inside.id, { valid_ips: [] }), /valid_ips|bound/);
    await assert.rejects(bound.update(inside.id, { valid_ips: ['0.0.0.0/0'] }), KeyAuthorityError);
    assert.deepEqual((await keys.get(inside.id))?.valid_ips, ['192.0.2.128/25']);

    const widened = await keys.update(inside.id, {
      grants: ['smtp/inject', 'webhooks/modify'],
      valid_ips: [],
    });
    assert.deepEqual(widened?.valid_ips, [], 'the operator (KeyService itself) is not limited');
  });
});
