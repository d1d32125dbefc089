/**
 * Specifies the webhook SSRF guard: by default a target on loopback, private, link-local or
 * unspecified addresses (IPv4, IPv6, IPv4-mapped, or a name resolving there) is refused with a
 * reason naming the setting, and a real receiver on loopback is never posted to; with
 * webhooks.allow_private_targets the same receiver gets the batch. Public addresses pass.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
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

test('internal targets are refused by default, with the setting named', async () => {
  for (const target of [
    'http://127.0.0.1:8080/hook',
    'http://localhost/hook',
    'http://[::1]/hook',
    'http://[::ffff:10.1.2.3]/hook',
    'https://10.0.0.5/hook',
    'http://172.20.1.1/hook',
    'http://192.168.1.10/hook',
    'http://169.254.169.254/latest/meta-data',
    'http://0.0.0.0/hook',
    'http://[fd12::1]/hook',
  ]) {
    const reason = await refuseTarget(target, false);
    assert.match(String(reason), /internal address .*webhooks\.allow_private_targets/, target);
  }
});

test('public addresses pass, and bad URLs or schemes are refused', async () => {
  assert.equal(await refuseTarget('https://93.184.216.34/hook', false), null);
  assert.equal(await refuseTarget('http://[2001:db8::1]/hook', false), null);
  assert.match(String(await refuseTarget('not a url', false)), /not a URL/);
  assert.match(String(await refuseTarget('file:///etc/passwd', true)), /http\(s\)/);
  assert.equal(await refuseTarget('http://127.0.0.1/hook', true), null);
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
  assert.match(refused.detail, /internal address/);
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
  assert.match(result.detail, /internal address \(127\.0\.0\.1\) at connect time/);
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
