/**
 * Specifies POST /api/v1/transmissions end to end against the real `sluice serve` binary: one
 * message per recipient with `{{name}}` substitution (recipient data before transmission data,
 * unknown keys empty), attachments and inline images, campaign, tags and metadata in the events;
 * a suppressed recipient rejected alone (generation_rejection event, as SparkPost's REST
 * injection; rcpt_to_errors); email_rfc822 content; each message delivered to a recording sink; open and click tracking applied at delivery
 * as for SMTP mail (the pixel's open event carries the transmission); events readable through GET
 * /api/v1/events/message, newest first, filtered, and paged by following links.next.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { type ApiAnswer, type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let api: ApiCall;

before(async () => {
  sink = await startSink();
  const http = await freePort();
  sluice = await startSluice({
    ports: { http },
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'tracking.base_url': `http://127.0.0.1:${http}`,
    },
  });
  const key = await createKey(sluice.dataDir, {
    label: 'app',
    grants: ['transmissions/modify', 'message_events/view', 'suppression_lists/manage'],
  });
  api = apiClient(sluice.httpPort, key.key);
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

const events = async (query: string): Promise<Json[]> =>
  (await api('GET', `/api/v1/events/message?${query}`)).body.results;

describe('POST /api/v1/transmissions', () => {
  test('one message per recipient, substituted, delivered; the suppressed recipient alone is rejected', async () => {
    const put = await api('PUT', '/api/v1/suppression-list', {
      recipients: [
        { recipient: 'Gone@Shop.example', type: 'non_transactional', description: 'asked to stop' },
      ],
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const logo = Buffer.from('GIF89a-not-really').toString('base64');
    const answer = await api('POST', '/api/v1/transmissions?num_rcpt_errors=3', {
      campaign_id: 'spring-sale',
      metadata: { shop: 'north', user: 0 },
      substitution_data: { name: 'customer', discount: '10%' },
      recipients: [
        {
          address: { email: 'ann@one.example', name: 'Ann A' },
          tags: ['vip'],
          metadata: { user: 1 },
          substitution_data: { name: 'Ann' },
        },
        { address: 'bob@two.example', metadata: { user: 2 } },
        { address: 'gone@shop.example' },
      ],
      content: {
        from: { email: 'sale@shop.example', name: 'Shop' },
        subject: 'Hello {{name}}, {{discount}} off',
        text: 'Dear {{name}}, code {{missing}}end',
        html: '<p>Dear {{name}} <img src="cid:logo.gif"></p><p>{{{raw}}}</p>',
        headers: { 'X-Shop-Id': 'north-{{name}}' },
        attachments: [
          { name: 'terms.txt', type: 'text/plain', data: Buffer.from('the terms').toString('base64') },
        ],
        inline_images: [{ name: 'logo.gif', type: 'image/gif', data: logo }],
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const results = answer.body.results;
    assert.equal(results.total_accepted_recipients, 2);
    assert.equal(results.total_rejected_recipients, 1);
    assert.match(results.id, /^\d+$/);
    assert.equal(results.rcpt_to_errors.length, 1);
    assert.match(results.rcpt_to_errors[0].description, /gone@shop\.example.*suppression list/);

    await waitFor(() => sink.messages.length >= 2, 20_000, 'two deliveries');
    const byRcpt = new Map(sink.messages.map((m) => [m.rcptTo[0], m]));
    assert.deepEqual([...byRcpt.keys()].sort(), ['ann@one.example', 'bob@two.example']);
    assert.equal(byRcpt.get('ann@one.example')!.mailFrom, 'sale@shop.example');
    const ann = await simpleParser(byRcpt.get('ann@one.example')!.data);
    assert.equal(ann.subject, 'Hello Ann, 10% off');
    assert.equal(ann.text?.trim(), 'Dear Ann, code end');
    assert.match(String(ann.html), /Dear Ann/);
    assert.equal(ann.headers.get('x-shop-id'), 'north-Ann');
    assert.equal((ann.to as { text: string }).text, '"Ann A" <ann@one.example>');
    const files = ann.attachments.map((a) => [a.filename, a.contentDisposition, a.content.toString()]);
    assert.deepEqual(
      files.find((f) => f[0] === 'terms.txt'),
      ['terms.txt', 'attachment', 'the terms'],
    );
    assert.equal(ann.attachments.find((a) => a.filename === 'logo.gif')?.cid, 'logo.gif');
    const bob = await simpleParser(byRcpt.get('bob@two.example')!.data);
    assert.equal(bob.subject, 'Hello customer, 10% off', 'transmission data when the recipient has none');
    assert.ok(!byRcpt.get('bob@two.example')!.text.includes('X-MSYS-API'));

    const injections = await events(`events=injection&campaigns=spring-sale`);
    assert.equal(injections.length, 2);
    for (const event of injections) {
      assert.equal(event.transmission_id, results.id);
      assert.equal(event.recv_method, 'rest');
      assert.equal(event.campaign_id, 'spring-sale');
      assert.equal(event.friendly_from, 'sale@shop.example');
    }
    const annInjection = injections.find((e) => e.rcpt_to === 'ann@one.example');
    assert.deepEqual(
      annInjection.rcpt_meta,
      { shop: 'north', user: 1 },
      'recipient metadata over transmission',
    );
    assert.deepEqual(annInjection.rcpt_tags, ['vip']);
    assert.equal(annInjection.subject, 'Hello Ann, 10% off');
    const rejected = await events('events=generation_rejection&recipients=gone@shop.example');
    assert.equal(rejected.length, 1);
    assert.equal(rejected[0].transmission_id, results.id);
    await waitFor(
      async () => (await events('events=delivery&campaigns=spring-sale')).length === 2,
      20_000,
      'delivery events',
    );
  });

  test('email_rfc822 content is sent as given, substituted, with the return_path as envelope sender', async () => {
    const before = sink.messages.length;
    const answer = await api('POST', '/api/v1/transmissions', {
      return_path: 'bounces@shop.example',
      recipients: [{ address: 'carol@three.example', substitution_data: { who: 'Carol' } }],
      content: { email_rfc822: 'From: shop@shop.example\nSubject: raw for {{who}}\n\nHi {{who}}\n' },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.results.total_accepted_recipients, 1);
    await waitFor(() => sink.messages.length > before, 20_000, 'the rfc822 delivery');
    const got = sink.messages.at(-1)!;
    assert.equal(got.mailFrom, 'bounces@shop.example');
    assert.deepEqual(got.rcptTo, ['carol@three.example']);
    assert.match(got.text, /\r\nSubject: raw for Carol\r\n\r\nHi Carol\r\n$/);
  });

  test('options.open_tracking and click_tracking: delivered with a pixel and signed links; the open is an event', async () => {
    const before = sink.messages.length;
    const answer = await api('POST', '/api/v1/transmissions', {
      campaign_id: 'tracked',
      options: { open_tracking: true, click_tracking: true },
      recipients: [{ address: 'dan@track.example' }],
      content: {
        from: 'news@shop.example',
        subject: 'tracked',
        html: '<html><body><p><a href="https://shop.example/offer">offer</a></p></body></html>',
      },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    await waitFor(() => sink.messages.length > before, 20_000, 'the tracked delivery');
    const html = String((await simpleParser(sink.messages.at(-1)!.data)).html);
    const base = `http://127.0.0.1:${sluice.httpPort}`;
    const pixel = new RegExp(`${base}/q/[A-Za-z0-9_.-]+`).exec(html)?.[0];
    assert.ok(pixel, `an open pixel in ${html}`);
    assert.match(html, new RegExp(`href="${base}/f/[A-Za-z0-9_.-]+"`), 'the link is rewritten');
    assert.ok(!html.includes('href="https://shop.example/offer"'));
    const gif = await fetch(pixel, { headers: { 'user-agent': 'MailReader/1' } });
    assert.equal(gif.status, 200);
    await waitFor(
      async () => (await events('events=initial_open,open&campaigns=tracked')).length > 0,
      10_000,
      'an open',
    );
    const [open] = await events('events=initial_open,open&campaigns=tracked');
    assert.equal(open.transmission_id, answer.body.results.id);
    assert.equal(open.rcpt_to, 'dan@track.example');
  });

  test('events page newest first; following links.next visits every event exactly once', async () => {
    const all = await events('per_page=10000');
    assert.ok(all.length >= 6, `expected several events, got ${all.length}`);
    const times = all.map((e) => e.timestamp as string);
    assert.deepEqual([...times].sort().reverse(), times, 'newest first');
    const seen: string[] = [];
    let path: string | undefined = '/api/v1/events/message?per_page=2';
    let pages = 0;
    while (path && pages < 100) {
      const page: ApiAnswer = await api('GET', path);
      assert.equal(page.status, 200);
      assert.ok(page.body.results.length <= 2);
      assert.equal(page.body.total_count, all.length);
      seen.push(...page.body.results.map((e: Json) => e.event_id));
      path = page.body.links.next;
      pages++;
    }
    assert.deepEqual(
      seen,
      all.map((e) => e.event_id),
    );
    const bad = await api('GET', '/api/v1/events/message?cursor=bm9wZQ');
    assert.equal(bad.status, 422);
    assert.match(bad.body.errors[0].description, /^cursor/);
    const badType = await api('GET', '/api/v1/events/message?events=injection,nonsense');
    assert.equal(badType.status, 422);
    assert.match(badType.body.errors[0].description, /^events/);
  });
});
