/**
 * Specifies how `sluice serve` records opens and clicks (batched, BatchedEventStore): every
 * redirect answered before SIGTERM has its click event on disk after the process exits (the
 * queue is written on shutdown), each with the message's campaign and metadata from its
 * injection (looked up once, then cached), and a click and an open of the same message in one
 * burst are both kept.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, test } from 'node:test';
import { configSchema } from '../../src/config/schema.js';
import { injectionEvent } from '../../src/core/events.js';
import { openStores } from '../../src/store/open.js';
import { type SigningKey, TokenSigner } from '../../src/tracking/token.js';
import { waitForPort } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const MESSAGE = '0190aabbccddeeff0011';
const RCPT = 'carol@three.example';
const CLICKS = 60;
let sluice: SluiceProcess | undefined;

after(async () => {
  await sluice?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

function get(port: number, pathname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: pathname, agent: false }, (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

test('clicks answered before SIGTERM are all recorded, with the injection fields', async () => {
  sluice = await startSluice();
  const { dataDir, httpPort } = sluice;
  await waitForPort(httpPort);
  // The injection is written while serve runs, as a door would (the store allows several processes).
  const writer = await openStores(configSchema.parse({ data_dir: dataDir }));
  writer.events.append(
    injectionEvent(
      {
        message_id: MESSAGE,
        transmission_id: '9',
        msg_from: 'news@shop.example',
        friendly_from: 'news@shop.example',
        subject: 'Batched',
        msg_size: 10,
        injection_time: new Date().toISOString(),
        recv_method: 'esmtp',
        api_key_id: 'k1',
        client_ip: '127.0.0.1',
        msys: { campaign_id: 'autumn', tags: ['x'], metadata: { plan: 'pro' } },
      },
      RCPT,
    ),
  );
  await writer.close();
  const keys = JSON.parse(readFileSync(path.join(dataDir, 'tracking', 'keys.json'), 'utf8')) as SigningKey[];
  const signer = new TokenSigner(keys, 86_400_000);
  const link = (i: number) =>
    `/f/${signer.sign({ kind: 'click', messageId: MESSAGE, rcpt: RCPT, linkIndex: i, linkName: `l${i}`, url: `https://shop.example/${i}` })}`;
  const pixel = `/q/${signer.sign({ kind: 'open', messageId: MESSAGE, rcpt: RCPT, linkIndex: 0, linkName: '', url: '' })}`;
  const statuses = await Promise.all([
    ...Array.from({ length: CLICKS }, (_, i) => get(httpPort, link(i))),
    get(httpPort, pixel),
  ]);
  assert.deepEqual(statuses, [...Array(CLICKS).fill(302), 200]);
  assert.equal(await sluice.stop(), 0);

  const reader = await openStores(configSchema.parse({ data_dir: dataDir }));
  try {
    const clicks = await reader.events.search({ types: ['click'], messageId: MESSAGE, limit: 1000 });
    assert.equal(clicks.length, CLICKS);
    assert.deepEqual(
      clicks.map((c) => c.target_link_url).sort(),
      Array.from({ length: CLICKS }, (_, i) => `https://shop.example/${i}`).sort(),
    );
    for (const click of clicks) {
      assert.equal(click.campaign_id, 'autumn');
      assert.deepEqual(click.rcpt_meta, { plan: 'pro' });
      assert.equal(click.subject, 'Batched');
    }
    const opens = await reader.events.search({ types: ['open'], messageId: MESSAGE, limit: 10 });
    assert.equal(opens.length, 1);
    assert.equal(opens[0]!.campaign_id, 'autumn');
  } finally {
    await reader.close();
  }
});
