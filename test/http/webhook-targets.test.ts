/**
 * Specifies the webhook target guard through the API of the real `sluice serve` binary with its
 * default policy (webhooks.allow_private_targets off): creating a webhook on 198.18.0.0/15, the
 * IPv4-mapped spelling of loopback, 192.0.0.0/24, multicast, NAT64, 6to4, or `localhost` is a
 * 400 with one fixed sentence that does not echo the address; a real receiver behind such a target
 * is never posted to; the log line names the address and the block.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { REFUSED_TARGET } from '../../src/http/api/webhooks-v1.js';
import { type ApiCall, apiClient } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
let api: ApiCall;
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
  sluice = await startSluice({ overrides: { 'delivery.relayhost': '[127.0.0.1]:9' } });
  api = apiClient(
    sluice.httpPort,
    (await createKey(sluice.dataDir, { grants: ['webhooks/modify', 'webhooks/view'] })).key,
  );
});

after(async () => {
  await sluice?.stop();
  await new Promise((resolve) => receiver.close(resolve));
});

test('special-purpose targets are refused with one sentence; the log names the block', async () => {
  const targets: [string, RegExp][] = [
    ['http://198.18.0.1/hook', /198\.18\.0\.0\/15 benchmarking/],
    [`http://[::ffff:127.0.0.1]:${port}/hook`, /127\.0\.0\.0\/8 loopback/],
    [`http://localhost:${port}/hook`, /loopback/],
    ['http://192.0.0.8/hook', /192\.0\.0\.0\/24/],
    ['http://239.1.2.3/hook', /224\.0\.0\.0\/4 multicast/],
    ['http://255.255.255.255/hook', /240\.0\.0\.0\/4/],
    ['http://[64:ff9b::a00:1]/hook', /64:ff9b::\/96/],
    ['http://[2002:a00:1::1]/hook', /2002::\/16 6to4/],
  ];
  for (const [target, logged] of targets) {
    const answer = await api('POST', '/api/v1/webhooks', { name: 'inside', target });
    assert.equal(answer.status, 400, `${target}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.errors[0].description, `target: ${REFUSED_TARGET}`);
    await waitFor(
      () =>
        sluice
          .output()
          .split('\n')
          .some((line) => line.includes('webhook test batch not accepted') && logged.test(line)),
      5_000,
      `a log line for ${target}`,
    );
  }
  assert.equal(received, 0, 'the loopback receiver was never reached');
  assert.equal((await api('GET', '/api/v1/webhooks')).body.results.length, 0);
});
