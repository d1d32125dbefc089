/**
 * Specifies the webhook SSRF guard: by default a target in any special-purpose block of the IANA
 * registries (RFC 6890 and updates), multicast, reserved, outside IPv6 global unicast, NAT64,
 * 6to4, Teredo, IPv4-mapped spellings, or on one of this host's own interfaces — as a literal or
 * as a name resolving there (an injected resolver plays DNS) — is refused with a reason naming
 * the block and the setting, and a real receiver on loopback is never posted to; with
 * webhooks.allow_private_targets the same receiver gets the batch. Public addresses pass. A
 * failed POST says why for the log (the network error with its code, or the HTTP status).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { after, before, test } from 'node:test';
import { postBatch } from '../../src/webhooks/post.js';
import { refuseTarget } from '../../src/webhooks/target-guard.js';

let receiver: http.Server;
let port: number;
let received = 0;

before(async () => {
  receiver = http.createServer((request, response) => {
    received++;
    request.resume();
    response.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  port = (receiver.address() as AddressInfo).port;
});

after(() => receiver.close());

/** Addresses of every refused block: IPv4, IPv6, and IPv6 forms that reach IPv4. */
const REFUSED = [
  ['0.1.2.3', '0.0.0.0/8'],
  ['10.1.2.3', '10.0.0.0/8'],
  ['100.64.0.1', '100.64.0.0/10'],
  ['100.127.255.254', '100.64.0.0/10'],
  ['127.0.0.1', '127.0.0.0/8'],
  ['169.254.169.254', '169.254.0.0/16'],
  ['172.16.0.1', '172.16.0.0/12'],
  ['172.31.255.255', '172.16.0.0/12'],
  ['192.0.0.1', '192.0.0.0/24'],
  ['192.0.0.255', '192.0.0.0/24'],
  ['192.0.2.1', '192.0.2.0/24'],
  ['192.88.99.1', '192.88.99.0/24'],
  ['192.168.1.10', '192.168.0.0/16'],
  ['198.18.0.1', '198.18.0.0/15'],
  ['198.19.255.254', '198.18.0.0/15'],
  ['198.51.100.1', '198.51.100.0/24'],
  ['203.0.113.1', '203.0.113.0/24'],
  ['224.0.0.1', '224.0.0.0/4'],
  ['239.255.255.255', '224.0.0.0/4'],
  ['240.0.0.1', '240.0.0.0/4'],
  ['255.255.255.255', '240.0.0.0/4'],
  ['::', '::/128'],
  ['::1', '::1/128'],
  ['::10.0.0.1', '::/96'],
  ['::ffff:0:10.0.0.1', '::ffff:0:0:0/96'],
  ['64:ff9b::a00:1', '64:ff9b::/96'],
  ['64:ff9b::808:808', '64:ff9b::/96'],
  ['64:ff9b:1::1', '64:ff9b:1::/48'],
  ['100::1', '100::/64'],
  ['100:0:0:1::1', '100:0:0:1::/64'],
  ['2001::1', '2001::/32'],
  ['2001:2::1', '2001::/23'],
  ['2001:db8::1', '2001:db8::/32'],
  ['2002:a00:1::1', '2002::/16'],
  ['2002:808:808::1', '2002::/16'],
  ['3fff::1', '3fff::/20'],
  ['5f00::1', '5f00::/16'],
  ['fc00::1', 'fc00::/7'],
  ['fd12::1', 'fc00::/7'],
  ['fe80::1', 'fe80::/10'],
  ['fec0::1', 'fec0::/10'],
  ['ff02::1', 'ff00::/8'],
  ['4000::1', '2000::/3'],
  ['::ffff:10.1.2.3', '10.0.0.0/8'],
  ['::ffff:a01:203', '10.0.0.0/8'],
  ['::ffff:c612:1', '198.18.0.0/15'],
  ['::ffff:127.0.0.1', '127.0.0.0/8'],
] as const;

const PUBLIC = ['93.184.216.34', '8.8.8.8', '192.31.196.1', '2606:4700:4700::1111', '::ffff:93.184.216.34'];

/** A resolver that answers every name with `addresses` (no Internet DNS in tests). */
function resolverFor(...addresses: string[]): LookupFunction {
  return ((_host: string, _options: unknown, callback: (e: Error | null, a: unknown) => void) =>
    callback(
      null,
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    )) as unknown as LookupFunction;
}

const literal = (address: string) =>
  address.includes(':') ? `http://[${address}]/hook` : `http://${address}/hook`;
const closed = { allowPrivateTargets: false, localAddresses: () => [] };

test('every special-purpose block is refused, as a literal and as a name, naming the block and the setting', async () => {
  for (const [address, block] of REFUSED) {
    for (const [target, policy] of [
      [literal(address), closed],
      ['http://hooks.example.test/hook', { ...closed, resolve: resolverFor(address) }],
      ['http://hooks.example.test/hook', { ...closed, resolve: resolverFor('93.184.216.34', address) }],
    ] as const) {
      const refusal = await refuseTarget(target, policy);
      assert.equal(refusal?.kind, 'address', `${target} -> ${address}`);
      assert.ok(refusal.detail.includes(block), `${address}: ${refusal.detail}`);
      assert.match(refusal.detail, /webhooks\.allow_private_targets/);
    }
  }
});

test('public addresses pass; allow_private_targets lets every block through', async () => {
  for (const address of PUBLIC) {
    assert.equal(await refuseTarget(literal(address), closed), null, address);
    assert.equal(
      await refuseTarget('http://hooks.example.test/', { ...closed, resolve: resolverFor(address) }),
      null,
    );
  }
  for (const [address] of REFUSED)
    assert.equal(await refuseTarget(literal(address), { allowPrivateTargets: true }), null, address);
});

test("the host's own addresses are refused, public ones included", async () => {
  const own = { allowPrivateTargets: false, localAddresses: () => ['93.184.216.34', '2606:4700::6810:85e5'] };
  for (const address of ['93.184.216.34', '::ffff:93.184.216.34', '2606:4700::6810:85e5']) {
    const refusal = await refuseTarget(literal(address), own);
    assert.equal(refusal?.kind, 'address');
    assert.match(refusal.detail, /this host's own interfaces/);
  }
  assert.equal(await refuseTarget(literal('8.8.8.8'), own), null);
  // And with the real interfaces of this machine, whatever they are.
  for (const info of Object.values(networkInterfaces()).flatMap((list) => list ?? [])) {
    const refusal = await refuseTarget(literal(info.address), { allowPrivateTargets: false });
    assert.equal(refusal?.kind, 'address', info.address);
  }
});

test('bad URLs, other schemes and names that do not resolve are refused with their own kind', async () => {
  assert.equal((await refuseTarget('not a url', closed))?.kind, 'url');
  assert.equal((await refuseTarget('file:///etc/passwd', { allowPrivateTargets: true }))?.kind, 'url');
  const failing = ((_h: string, _o: unknown, callback: (e: Error | null) => void) =>
    callback(Object.assign(new Error('nope'), { code: 'ENOTFOUND' }))) as unknown as LookupFunction;
  const unresolved = await refuseTarget('http://nowhere.example.test/', { ...closed, resolve: failing });
  assert.equal(unresolved?.kind, 'unresolved');
  assert.match(unresolved.detail, /ENOTFOUND/);
});

/** A webhook without auth, posting to `target`. */
const hookAt = (target: string) => ({ target, auth_type: 'none', auth_credentials: null, secret: 's' });

test('postBatch never reaches a loopback receiver unless allowed', async () => {
  const webhook = hookAt(`http://127.0.0.1:${port}/hook`);
  const refused = await postBatch(webhook as never, 'b1', '[]', {
    timeoutMs: 5_000,
    allowPrivateTargets: false,
  });
  assert.equal(refused.ok, false);
  assert.equal(refused.refused, 'address');
  assert.match(refused.detail, /127\.0\.0\.0\/8 loopback/);
  assert.equal(received, 0);
  const allowed = await postBatch(webhook as never, 'b2', '[]', {
    timeoutMs: 5_000,
    allowPrivateTargets: true,
  });
  assert.equal(allowed.ok, true);
  assert.equal(received, 1);
});

/** A resolver that answers `first` to the first question and `then` to every later one. */
function rebindingResolver(first: string, then: string): LookupFunction {
  let asked = 0;
  return ((_host: string, _options: unknown, callback: (e: Error | null, a: unknown) => void) => {
    const address = asked++ === 0 ? first : then;
    callback(null, [{ address, family: 4 }]);
  }) as unknown as LookupFunction;
}

test('a name that rebinds to loopback between the check and the connect is refused (DNS rebinding)', async () => {
  const before = received;
  const webhook = hookAt(`http://hooks.example.test:${port}/hook`);
  const result = await postBatch(webhook as never, 'b3', '[]', {
    timeoutMs: 5_000,
    allowPrivateTargets: false,
    resolve: rebindingResolver('93.184.216.34', '127.0.0.1'),
  });
  assert.equal(result.ok, false);
  assert.equal(result.refused, 'address');
  assert.match(result.detail, /resolves to 127\.0\.0\.1 at connect time/);
  assert.equal(received, before, 'the loopback receiver was never reached');
});

test('with private targets allowed, an injected resolver is used for the connect', async () => {
  const before = received;
  const webhook = hookAt(`http://hooks.example.test:${port}/hook`);
  const result = await postBatch(webhook as never, 'b4', '[]', {
    timeoutMs: 5_000,
    allowPrivateTargets: true,
    resolve: rebindingResolver('127.0.0.1', '127.0.0.1'),
  });
  assert.equal(result.ok, true, result.detail);
  assert.equal(received, before + 1);
});

test('a receiver that never answers, or answers endlessly, is cut off', async () => {
  const sockets = new Set<import('node:net').Socket>();
  const slow = http.createServer((request, response) => {
    request.resume();
    if (request.url === '/endless') {
      response.writeHead(500);
      const timer = setInterval(() => response.write('x'.repeat(4096)), 5);
      response.on('close', () => clearInterval(timer));
    }
    // '/silent' never answers.
  });
  slow.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const slowPort = (slow.address() as AddressInfo).port;
  try {
    const limits = { timeoutMs: 300, allowPrivateTargets: true };
    const hook = (path: string) => hookAt(`http://127.0.0.1:${slowPort}${path}`);
    const silent = await postBatch(hook('/silent') as never, 'b5', '[]', limits);
    assert.equal(silent.ok, false);
    assert.equal(silent.status, null);
    assert.match(silent.detail, /abort|timeout/i);
    const endless = await postBatch(hook('/endless') as never, 'b6', '[]', limits);
    assert.equal(endless.ok, false);
    assert.equal(endless.status, 500);
    assert.ok(endless.body.length <= 1024 && endless.body.length > 0);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => slow.close(resolve));
  }
});

test('a failed POST keeps the network error with its code, or the status, for the log', async () => {
  const nobody = net.createServer();
  await new Promise<void>((resolve) => nobody.listen(0, '127.0.0.1', resolve));
  const closedPort = (nobody.address() as AddressInfo).port;
  await new Promise((resolve) => nobody.close(resolve));
  const limits = { timeoutMs: 5_000, allowPrivateTargets: true };
  const refused = await postBatch(hookAt(`http://127.0.0.1:${closedPort}/`) as never, 'b7', '[]', limits);
  assert.equal(refused.ok, false);
  assert.equal(refused.refused, null, 'the peer refused, not the guard');
  assert.match(refused.detail, /ECONNREFUSED/);
});
