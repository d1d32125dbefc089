/**
 * Specifies the Metrics API end to end, on the embedded store and on Redis: a known mix of mail is
 * injected through real SMTP (nodemailer) and the HTTP API into a real `sluice serve` relaying to
 * the scripted fault sink — deliveries, a retried delivery, soft, hard, block and admin bounces,
 * delays, a suppressed recipient refused at RCPT (policy_rejection) and in a transmission
 * (generation_rejection, as SparkPost's REST injection reports it), opens (twice), initial opens and clicks
 * on named and unnamed links across three domains, three campaigns and three sending domains —
 * and then every endpoint at every precision, in UTC and in two other time zones, answers exactly
 * the counts of the events that the events API returns (test/harness/metrics-expect.ts applies
 * SparkPost's definitions to them, independently of Sluice's rollup code). The same mix moved
 * hours and days back, which the stores fold into hour and day rows as they write it, answers
 * the same at every precision those windows allow. Every documented response example has the
 * shape of Sluice's answer to the same question.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { simpleParser } from 'mailparser';
import { loadConfig } from '../../src/config/index.js';
import type { SluiceEvent } from '../../src/core/events.js';
import { PRECISIONS } from '../../src/core/metrics/time.js';
import { openEmbeddedStores, openStores } from '../../src/store/open.js';
import { type ApiCall, apiClient, type Json } from '../harness/api-client.js';
import { createKey, nodemailerSend, queuedId, sluiceCli } from '../harness/clients.js';
import { type FaultScript, type FaultSink, startFaultSink } from '../harness/fault-sink.js';
import { checkDocumentedShapes, checkEndpoints } from '../harness/metrics-checks.js';
import { expectedMetrics, pick } from '../harness/metrics-expect.js';
import { freePort, waitFor } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const SCRIPT: FaultScript = (rcpt, offer) => {
  const local = rcpt.slice(0, rcpt.indexOf('@'));
  if (local.startsWith('hard')) return { kind: 'reply', code: 550, text: `5.1.1 <${rcpt}>: user unknown` };
  if (local.startsWith('soft')) return { kind: 'reply', code: 552, text: '5.2.2 Mailbox full' };
  if (local.startsWith('block')) return { kind: 'reply', code: 554, text: '5.7.1 Message detected as spam' };
  if (local.startsWith('stuck') || (local.startsWith('delay') && offer === 1))
    return { kind: 'reply', code: 451, text: '4.3.0 Try again later' };
  return { kind: 'accept' };
};

const D1 = 'd1.metrics.example';
const D2 = 'd2.metrics.example';
const D3 = 'd3.metrics.example';

for (const store of ['embedded', 'redis'] as const) {
  describe(`Metrics API on the ${store} store`, () => {
    let sink: FaultSink;
    let sluice: SluiceProcess;
    let redis: RedisServer | null = null;
    let site: http.Server;
    let api: ApiCall;
    let cliStore: string[] = [];
    let events: Json[] = [];
    const started = Date.now();

    before(async () => {
      site = http.createServer((_request, response) => response.writeHead(200).end('landed'));
      await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
      sink = await startFaultSink(SCRIPT);
      const storeOverrides: Record<string, string> = {};
      if (store === 'redis') {
        redis = await startRedis();
        storeOverrides['store.backend'] = 'redis';
        storeOverrides['store.redis.url'] = redis.url;
        cliStore = Object.entries(storeOverrides).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
      }
      const httpPort = await freePort();
      sluice = await startSluice({
        ports: { http: httpPort },
        overrides: {
          'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
          'delivery.retry_schedule': '[1s]',
          'tracking.base_url': `http://127.0.0.1:${httpPort}`,
          'bounces.dsn': false,
          'metrics.watched_domains': `[${D1}, gmail.com]`,
          // The test polls the events API while the mix settles: the per-key rate is not under test.
          'http.rate_limit': 0,
          ...storeOverrides,
        },
      });
      const key = await createKey(sluice.dataDir, {
        label: 'metrics',
        grants: ['transmissions/modify', 'message_events/view', 'suppression_lists/manage', 'metrics/view'],
        extraArgs: cliStore,
      });
      api = apiClient(sluice.httpPort, key.key);
      events = await sendTheMix();
    });

    after(async () => {
      await sluice?.stop();
      await sink?.stop();
      await redis?.stop();
      site?.close();
    });

    const landing = () => `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

    function newsletter(from: string, to: string, subject: string, msys: object): string {
      return [
        `From: ${from}`,
        `To: ${to}`,
        `Subject: ${subject}`,
        `X-MSYS-API: ${JSON.stringify(msys)}`,
        'MIME-Version: 1.0',
        'Content-Type: text/html; charset=utf-8',
        '',
        `<html><body><a href="${landing()}/buy?u=1" data-msys-linkname="buy">Buy</a>`,
        `<a href="${landing()}/faq?u=2#top">FAQ</a></body></html>`,
        '',
      ].join('\r\n');
    }

    async function smtp(
      from: string,
      to: string[],
      subject: string,
      msys: object,
    ): Promise<string | undefined> {
      const sent = await nodemailerSend({
        port: sluice.smtpPort,
        from,
        to,
        raw: newsletter(from, to.join(', '), subject, msys),
      });
      return sent.ok ? queuedId(sent.response) : undefined;
    }

    /** Pixel and link URLs of the message the sink received for a recipient. */
    async function tracked(rcpt: string) {
      const message = await waitFor(() => sink.messages.find((m) => m.rcptTo.includes(rcpt)), 20_000, rcpt);
      const html = String((await simpleParser(message!.data)).html);
      const urls = (kind: 'q' | 'f') =>
        [...html.matchAll(new RegExp(`http://127\\.0\\.0\\.1:\\d+/${kind}/[A-Za-z0-9_-]+`, 'g'))].map(
          (m) => m[0],
        );
      const [initial, open] = urls('q');
      const [buy, faq] = urls('f');
      assert.ok(initial && open && buy && faq, `tracked message for ${rcpt}`);
      return { initial, open, buy, faq };
    }

    const get = async (url: string) => {
      const response = await fetch(url, { redirect: 'manual' });
      assert.ok(response.status === 200 || response.status === 302, `${url}: ${response.status}`);
      await response.arrayBuffer();
    };

    async function sendTheMix(): Promise<Json[]> {
      const tracking = { open_tracking: true, click_tracking: true };
      const spring = { campaign_id: 'spring', options: tracking };
      const news = 'news@news.example';
      await smtp(news, [`ok1@${D1}`, `ok2@${D2}`], 'Spring', spring);
      await smtp(
        news,
        [`hard1@${D1}`, `soft1@${D2}`, `block1@${D3}`, `delay1@${D1}`],
        'Spring faults',
        spring,
      );
      await smtp('deals@shop.example', [`ok3@${D3}`, `delay2@${D2}`], 'Autumn', { campaign_id: 'autumn' });
      const stuck = await smtp('deals@shop.example', [`stuck@${D1}`], 'Stuck', { campaign_id: 'autumn' });
      assert.ok(stuck);

      const put = await api('PUT', '/api/v1/suppression-list', {
        recipients: [{ recipient: `gone@${D3}`, type: 'non_transactional', description: 'left' }],
      });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      // Refused at RCPT: a policy_rejection event, no message.
      assert.equal(await smtp(news, [`gone@${D3}`], 'Suppressed', spring), undefined);
      const sent = await api('POST', '/api/v1/transmissions?num_rcpt_errors=5', {
        campaign_id: 'api',
        options: tracking,
        recipients: [{ address: `ok4@${D1}` }, { address: `hard2@${D2}` }, { address: `gone@${D3}` }],
        content: {
          from: 'app@api.example',
          subject: 'From the API',
          html: `<p><a href="${landing()}/buy?u=3" data-msys-linkname="buy">Buy</a> <a href="${landing()}/faq?u=4">FAQ</a></p>`,
        },
      });
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.equal(sent.body.results.total_rejected_recipients, 1);

      // Engagement: ok1 opens twice and clicks buy twice and the FAQ once; ok2 opens; ok4 clicks.
      const ok1 = await tracked(`ok1@${D1}`);
      for (const url of [ok1.initial, ok1.open, ok1.open, ok1.buy, ok1.buy, ok1.faq]) await get(url);
      await get((await tracked(`ok2@${D2}`)).open);
      await get((await tracked(`ok4@${D1}`)).faq);

      // stuck@ keeps deferring until the administrator bounces it (class 25, an admin bounce).
      await waitFor(
        async () => (await search(`message_ids=${stuck}&events=delay`)).length > 0,
        20_000,
        'a delay',
      );
      const bounced = await sluiceCli([
        'queue',
        'bounce',
        stuck,
        '-o',
        `data_dir=${sluice.dataDir}`,
        ...cliStore,
      ]);
      assert.equal(bounced.code, 0, bounced.stderr);

      // Every outcome is in, then nothing more happens: the events to compare with.
      const want = {
        delivery: 6,
        bounce: 5,
        policy_rejection: 1,
        generation_rejection: 1,
        click: 4,
        open: 3,
        initial_open: 1,
      };
      const settled = await waitFor(
        async () => {
          const all = await search('per_page=10000');
          const counts = (type: string) => all.filter((e) => e.type === type).length;
          if (Object.entries(want).some(([type, n]) => counts(type) < n)) return undefined;
          await new Promise((resolve) => setTimeout(resolve, 1500));
          const again = await search('per_page=10000');
          return again.length === all.length ? all : undefined;
        },
        60_000,
        'the whole mix',
      );
      return settled!;
    }

    const search = async (query: string): Promise<Json[]> =>
      (await api('GET', `/api/v1/events/message?${query}`)).body.results;

    test('the mix holds every kind of outcome', () => {
      const all = expectedMetrics(events);
      for (const metric of [
        'count_injected',
        'count_delivered_first',
        'count_delivered_subsequent',
        'count_hard_bounce',
        'count_soft_bounce',
        'count_block_bounce',
        'count_admin_bounce',
        'count_policy_rejection',
        'count_generation_rejection',
        'count_delayed',
        'count_delayed_first',
        'count_rendered',
        'count_initial_rendered',
        'count_clicked',
      ])
        assert.ok(all[metric]! > 0, `${metric} is exercised`);
      assert.equal(all.count_unique_rendered, 2, 'ok1 opened twice: one unique');
      assert.equal(all.count_unique_clicked, 2, 'ok1 and ok4');
      assert.equal(all.count_unique_confirmed_opened, 3, 'ok1, ok2, ok4');
      assert.ok(Date.parse(String(events.at(-1)?.timestamp)) >= started - 60_000);
    });

    test('every endpoint, precision and time zone answers the counts of the events', async () => {
      const checked = await checkEndpoints(api, events, {
        from: started - 120_000,
        to: Date.now() + 180_000,
      });
      assert.deepEqual(checked, [...PRECISIONS], 'every precision');
    });

    test('the same mix hours and days ago, read from hour and day rows, answers the same', async () => {
      const earlier = await storeEarlier(events);
      const times = earlier.map((e) => Date.parse(e.timestamp));
      const bounds = { from: Math.min(...times) - 120_000, to: Math.max(...times) + 180_000 };
      assert.ok(bounds.to - bounds.from > 2 * 86_400_000, 'the window holds a whole UTC day');
      const checked = await checkEndpoints(api, [...events, ...earlier], bounds);
      // 1min-15min allow at most two days (SparkPost's limits); they read minute rows anyway.
      assert.deepEqual(checked, ['hour', '12hr', 'day', 'week', 'month']);
    });

    /**
     * The mix again, each message's events moved back 3, 27 or 51 hours (so a message keeps the
     * order of its events) with new ids, written through another handle on the store, oldest
     * first: before the compaction watermark, they are folded into hour and day rows (and the
     * projections) as they are written, the path history takes, while a live mix is minute rows.
     */
    async function storeEarlier(mix: Json[]): Promise<Json[]> {
      const messages = [...new Set(mix.map((e) => e.message_id ?? e.event_id))];
      const earlier = mix
        .map((e) => {
          const back = (3 + 24 * (messages.indexOf(e.message_id ?? e.event_id) % 3)) * 3_600_000;
          const moved: Json = {
            ...e,
            event_id: `${e.event_id}1`,
            timestamp: new Date(Date.parse(e.timestamp) - back).toISOString(),
          };
          if (e.message_id) moved.message_id = `${e.message_id}e`;
          if (e.queue_id) moved.queue_id = `${e.queue_id}e`;
          return moved;
        })
        .sort((a, b) => a.timestamp.localeCompare(b.timestamp));
      const loader = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-metrics-earlier-'));
      const stores =
        store === 'embedded'
          ? openEmbeddedStores({ data_dir: sluice.dataDir })
          : await openStores(
              loadConfig({
                overrides: [`data_dir=${loader}`, 'store.backend=redis', `store.redis.url=${redis!.url}`],
              }),
            );
      try {
        stores.events.appendMany(earlier as SluiceEvent[]);
        await (stores.events as { flush?: () => Promise<void> }).flush?.();
      } finally {
        await stores.close();
        fs.rmSync(loader, { recursive: true, force: true });
      }
      return earlier;
    }

    test("SparkPost's documented response examples: the same fields with the same types", async () => {
      await checkDocumentedShapes(api, started);
    });

    test('the SparkPost Node client reaches the Metrics API through its generic get', async () => {
      const { createRequire } = await import('node:module');
      const SparkPost = createRequire(import.meta.url)('sparkpost') as new (
        key: string,
        options: { origin: string },
      ) => { get(options: { uri: string; qs: object }): Promise<Json> };
      const key = await createKey(sluice.dataDir, {
        label: 'client',
        grants: ['metrics/view'],
        extraArgs: cliStore,
      });
      const client = new SparkPost(key.key, { origin: `http://127.0.0.1:${sluice.httpPort}` });
      const answer = await client.get({
        uri: 'metrics/deliverability/campaign',
        qs: {
          from: new Date(started - 120_000).toISOString().slice(0, 16),
          metrics: 'count_injected,count_delivered',
        },
      });
      const byCampaign = Object.fromEntries(answer.results.map((r: Json) => [r.campaign_id, r]));
      for (const campaign of ['spring', 'autumn', 'api']) {
        const mine = events.filter((e) => e.campaign_id === campaign);
        assert.deepEqual(
          pick(byCampaign[campaign], ['count_injected', 'count_delivered']),
          pick(expectedMetrics(mine, events), ['count_injected', 'count_delivered']),
          campaign,
        );
      }
    });
  });
}
