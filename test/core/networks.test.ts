/**
 * Specifies NetworkSet, the address matcher behind relay networks and key valid_ips: CIDR blocks
 * and single addresses of both families, IPv4-mapped IPv6 clients (as dual-stack sockets report
 * them) matching their IPv4 networks, non-addresses never matching, and invalid entries refused
 * when the set is built; remembered answers stay right. Also unmapIPv4.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NetworkSet, unmapIPv4 } from '../../src/core/networks.js';

describe('NetworkSet', () => {
  const set = new NetworkSet(['10.0.0.0/8', '192.0.2.1', '2001:db8::/32', '::1/128']);

  test('matches addresses inside an IPv4 block and an exact IPv4 address', () => {
    assert.equal(set.has('10.0.0.0'), true);
    assert.equal(set.has('10.255.255.255'), true);
    assert.equal(set.has('192.0.2.1'), true);
    assert.equal(set.has('11.0.0.0'), false);
    assert.equal(set.has('192.0.2.2'), false);
  });

  test('matches IPv6 blocks and addresses', () => {
    assert.equal(set.has('2001:db8::1'), true);
    assert.equal(set.has('2001:0db8:ffff::1'), true);
    assert.equal(set.has('::1'), true);
    assert.equal(set.has('2001:db9::1'), false);
    assert.equal(set.has('::2'), false);
  });

  test('an IPv4-mapped IPv6 client matches its IPv4 network, in any letter case', () => {
    assert.equal(set.has('::ffff:10.1.2.3'), true);
    assert.equal(set.has('::FFFF:192.0.2.1'), true);
    assert.equal(set.has('::ffff:11.1.2.3'), false);
  });

  test('something that is not an address never matches', () => {
    assert.equal(set.has(''), false);
    assert.equal(set.has('localhost'), false);
    assert.equal(set.has('10.0.0.0/8'), false);
  });

  test('an empty set matches nothing and has size 0', () => {
    const empty = new NetworkSet([]);
    assert.equal(empty.size, 0);
    assert.equal(empty.has('127.0.0.1'), false);
    assert.equal(set.size, 4);
  });

  test('repeated questions get the same answers, also past the memo bound', () => {
    const small = new NetworkSet(['10.0.0.0/8']);
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 5000; i++) {
        assert.equal(small.has(`10.0.${i >> 8}.${i & 255}`), true);
        assert.equal(small.has(`11.0.${i >> 8}.${i & 255}`), false);
      }
    assert.equal(small.has('::ffff:10.0.0.1'), true);
    assert.equal(small.has('not an address'), false);
  });

  test('invalid entries are refused when the set is built', () => {
    for (const bad of ['nope', '10.0.0.0/33', '10.0.0.0/x', '::1/129', '300.1.1.1']) {
      assert.throws(() => new NetworkSet([bad]), /./, bad);
    }
  });
});

describe('unmapIPv4', () => {
  test('strips the ::ffff: prefix of an IPv4-mapped address, and only that', () => {
    assert.equal(unmapIPv4('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('::FFFF:127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('127.0.0.1'), '127.0.0.1');
    assert.equal(unmapIPv4('::ffff:abcd::1'), '::ffff:abcd::1');
    assert.equal(unmapIPv4('2001:db8::1'), '2001:db8::1');
  });
});
