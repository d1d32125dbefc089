/**
 * Specifies the webhook SSRF guard: by default a target on loopback, private, link-local or
 * unspecified addresses (IPv4, IPv6, IPv4-mapped, or a name resolving there) is refused with a
 * reason naming the setting, and a real receiver on loopback is never posted to; with
 * webhooks.allow_private_targets the same receiver gets the batch. Public addresses pass.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { postBatch } from '../../src/webhooks/dispatcher.js';
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

test('postBatch never reaches a loopback receiver unless allowed', async () => {
  const webhook = {
    target: `http://127.0.0.1:${port}/hook`,
    auth_type: 'none',
    auth_credentials: null,
    secret: 's',
  };
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
