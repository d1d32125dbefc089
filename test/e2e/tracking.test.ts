/**
 * Specifies open and click tracking end to end through a real `sluice serve`: mail injected with
 * tracking on reaches a recording sink rewritten once per recipient (each recipient's own tokens);
 * fetching its pixel answers a GIF and records initial_open/open, and following a link as a
 * browser would (an HTTP client following the 302) lands on the original page and records a click,
 * every event carrying the message's campaign, metadata, tags, subject and sender. The on/off
 * precedence holds at the door: X-MSYS-API beats the API key's defaults, which beat the config.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { createKey, nodemailerSend, queuedId, searchEvents, sluiceCli } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type ReceivedMessage, type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let site: http.Server;
let sitePort: number;
const landings: { url: string; userAgent: string }[] = [];

before(async () => {
  site = http.createServer((request, response) => {
    landings.push({ url: request.url ?? '', userAgent: String(request.headers['user-agent']) });
    response.writeHead(200, { 'content-type': 'text/plain' }).end('landed');
  });
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  sitePort = (site.address() as AddressInfo).port;
  sink = await startSink();
  const httpPort = await freePort();
  sluice = await startSluice({
    ports: { http: httpPort },
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'tracking.base_url': `http://127.0.0.1:${httpPort}`,
    },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  site?.close();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
});

function newsletter(tag: string, msys: object | null): string {
  const landing = `http://127.0.0.1:${sitePort}/landing/${tag}?utm=1&x=%C3%A9`;
  return [
    'From: "News Desk" <news@example.com>',
    'To: readers@example.net',
    `Subject: Issue ${tag}`,
    ...(msys ? [`X-MSYS-API: ${JSON.stringify(msys)}`] : []),
    'MIME-Version: 1.0',
    'Content-Type: multipart/alternative; boundary="alt-b"',
    '',
    '--alt-b',
    'Content-Type: text/plain; charset=utf-8',
    '',
    `Read it at ${landing}`,
    '--alt-b',
    'Content-Type: text/html; charset=utf-8',
    '',
    `<html><body><p><a href="${landing}" data-msys-linkname="read-more">Read</a></p>`,
    '<p><a href="mailto:desk@example.com">Write</a> <a href="#top">Top</a></p></body></html>',
    '--alt-b--',
    '',
  ].join('\r\n');
}

async function deliveredTo(rcpt: string, subject: string) {
  const message = await waitFor<ReceivedMessage>(
    () =>
      sink.messages.find(
        (m) => m.rcptTo.includes(rcpt) && m.text.includes(`Subject: ${subject}`),
      ) as ReceivedMessage,
    20_000,
    `delivery of "${subject}" to ${rcpt}`,
  );
  assert.deepEqual(message.rcptTo, [rcpt], 'a tracked message travels one recipient per transaction');
  return { raw: message.text, parsed: await simpleParser(message.data) };
}

const pixels = (html: string, kind: 'q') =>
  [...html.matchAll(new RegExp(`http://127\\.0\\.0\\.1:\\d+/${kind}/([A-Za-z0-9_-]+)`, 'g'))].map(
    (m) => m[0],
  );
const clickLinks = (html: string) =>
  [...html.matchAll(/http:\/\/127\.0\.0\.1:\d+\/f\/[A-Za-z0-9_-]+/g)].map((m) => m[0]);

test('tracked mail: pixels and links per recipient, the pixel records opens, a click lands and records', async () => {
  const msys = {
    campaign_id: 'autumn',
    metadata: { plan: 'pro' },
    tags: ['news'],
    options: { open_tracking: true, click_tracking: true },
  };
  const sent = await nodemailerSend({
    port: sluice.smtpPort,
    from: 'news@example.com',
    to: ['ann@example.net', 'ben@example.net'],
    raw: newsletter('one', msys),
  });
  assert.ok(sent.ok, sent.response);
  const id = queuedId(sent.response)!;
  const ann = await deliveredTo('ann@example.net', 'Issue one');
  const ben = await deliveredTo('ben@example.net', 'Issue one');
  assert.ok(!/X-MSYS-API/i.test(ann.raw), 'the header is removed');

  const annHtml = String(ann.parsed.html);
  const annPixels = pixels(annHtml, 'q');
  assert.equal(annPixels.length, 2, 'an initial-open and an open pixel, once each');
  assert.equal(clickLinks(annHtml).length, 1, 'the http link is tracked, mailto and #top are not');
  assert.match(annHtml, /href="mailto:desk@example.com"/);
  assert.match(annHtml, /href="#top"/);
  assert.ok(!annHtml.includes('data-msys-linkname'), 'the link name attribute is removed');
  assert.match(
    String(ann.parsed.text),
    /Read it at http:\/\/127\.0\.0\.1:\d+\/f\//,
    'plain-text URL tracked',
  );
  assert.notDeepEqual(
    clickLinks(annHtml),
    clickLinks(String(ben.parsed.html)),
    'tokens differ per recipient',
  );

  for (const pixel of annPixels) {
    const response = await fetch(pixel, { headers: { 'user-agent': 'MailReader/1.0' } });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'image/gif');
    assert.match(String(response.headers.get('cache-control')), /no-cache/);
  }
  const followed = await fetch(clickLinks(annHtml)[0]!, { headers: { 'user-agent': 'Browser/2.0' } });
  assert.equal(followed.status, 200);
  assert.equal(await followed.text(), 'landed');
  assert.equal(landings.at(-1)?.url, '/landing/one?utm=1&x=%C3%A9', 'the original URL, byte for byte');

  const events = await searchEvents(sluice.dataDir, { messageId: id });
  const byType = (type: string) => events.filter((e) => e.type === type);
  assert.equal(byType('initial_open').length, 1);
  assert.equal(byType('open').length, 1);
  const [click] = byType('click');
  assert.ok(click, 'a click event');
  for (const event of [...byType('initial_open'), ...byType('open'), click]) {
    assert.equal(event.rcpt_to, 'ann@example.net');
    assert.equal(event.message_id, id);
    assert.equal(event.campaign_id, 'autumn');
    assert.deepEqual(event.rcpt_meta, { plan: 'pro' });
    assert.deepEqual(event.rcpt_tags, ['news']);
    assert.equal(event.subject, 'Issue one');
    assert.equal(event.friendly_from, 'news@example.com');
  }
  assert.equal(click.target_link_url, `http://127.0.0.1:${sitePort}/landing/one?utm=1&x=%C3%A9`);
  assert.equal(click.target_link_name, 'read-more');
  assert.equal(click.user_agent, 'Browser/2.0');
  assert.equal(byType('delivery').length, 2);
});

test('precedence: the key default turns opens on, the header turns them off again', async () => {
  const keyResult = await createKey(sluice.dataDir, { label: 'opens' });
  const set = await sluiceCli([
    'keys',
    'update',
    keyResult.id,
    '-o',
    `data_dir=${sluice.dataDir}`,
    '--default',
    'open_tracking=true',
  ]);
  assert.equal(set.code, 0, set.stderr);
  const auth = { user: 'SMTP_Injection', pass: keyResult.key };
  const viaKey = await nodemailerSend({
    port: sluice.submissionPort,
    requireTLS: true,
    auth,
    from: 'news@example.com',
    to: ['cat@example.net'],
    raw: newsletter('two', null),
  });
  assert.ok(viaKey.ok, viaKey.response);
  const overridden = await nodemailerSend({
    port: sluice.submissionPort,
    requireTLS: true,
    auth,
    from: 'news@example.com',
    to: ['dan@example.net'],
    raw: newsletter('three', { options: { open_tracking: false } }),
  });
  assert.ok(overridden.ok, overridden.response);

  const two = String((await deliveredTo('cat@example.net', 'Issue two')).parsed.html);
  assert.equal(pixels(two, 'q').length, 2, 'the key default tracks opens');
  assert.equal(clickLinks(two).length, 0, 'clicks stay off: neither header, key nor config says on');
  const three = String((await deliveredTo('dan@example.net', 'Issue three')).parsed.html);
  assert.equal(pixels(three, 'q').length, 0, 'the header beats the key');
});

test('untracked mail passes as it came, to all its recipients in one transaction', async () => {
  const sent = await nodemailerSend({
    port: sluice.smtpPort,
    from: 'news@example.com',
    to: ['eve@example.net', 'fay@example.net'],
    raw: newsletter('four', { campaign_id: 'plain' }),
  });
  assert.ok(sent.ok, sent.response);
  const message = await waitFor<ReceivedMessage>(
    () => sink.messages.find((m) => m.text.includes('Subject: Issue four')) as ReceivedMessage,
    20_000,
    'the untracked delivery',
  );
  assert.deepEqual(message.rcptTo.sort(), ['eve@example.net', 'fay@example.net']);
  assert.ok(!/\/f\/|\/q\//.test(message.text), 'no tracking by default');
});
