/**
 * The query layer (MetricsService) over both stores, on events spread over three hours: two
 * hours already folded into hour and day rows (they arrive as late events) and the current hour
 * in minute rows only. Every answer — unfiltered (TOTAL), filtered or grouped on one dimension
 * (its projection), on two (the combinations), hourly and 15-minute series, reasons, link names,
 * lists — equals the counts of the events (test/harness/metrics-expect.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import type { SluiceEvent } from '../../src/core/events.js';
import { AGGREGATE_METRICS, TIME_SERIES_METRICS } from '../../src/core/metrics/definitions.js';
import { MetricsService } from '../../src/core/metrics/query.js';
import { openEmbeddedStores, openStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';
import { domainOf, expectedMetrics, pick } from '../harness/metrics-expect.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

const now = Date.now();
const hour = Math.floor(now / 3_600_000) * 3_600_000;

/** Deterministic traffic at hours −3 and −2 (before the watermark) and in the current hour. */
function traffic(): SluiceEvent[] {
  const out: SluiceEvent[] = [];
  let seq = 0;
  const slots = [
    hour - 3 * 3_600_000 + 5 * 60_000,
    hour - 2 * 3_600_000 + 40 * 60_000,
    Math.max(hour, now - 60_000),
  ];
  for (const [s, at] of slots.entries())
    for (let i = 0; i < 12; i++) {
      const domain = `q${i % 3}.example`;
      const rcpt = `u${i}@${domain}`;
      const base = {
        message_id: `s${s}m${i}`,
        rcpt_to: rcpt,
        routing_domain: domain,
        campaign_id: i % 2 ? 'odd' : 'even',
        friendly_from: 'n@send.example',
        ip_pool: 'default',
      };
      const ev = (type: string, offset: number, extra: Record<string, unknown> = {}): SluiceEvent => ({
        type: type as SluiceEvent['type'],
        event_id: String(seq++),
        timestamp: new Date(at + offset * 1000).toISOString(),
        ...base,
        ...extra,
      });
      out.push(ev('injection', i));
      if (i % 4 === 3)
        out.push(
          ev('bounce', i + 1, { bounce_class: i % 8 === 3 ? '10' : '22', raw_reason: `550 no ${rcpt}` }),
        );
      else {
        if (i % 5 === 0) out.push(ev('delay', i + 1, { num_retries: '0', raw_reason: '451 later' }));
        out.push(
          ev('delivery', i + 2, { num_retries: i % 5 === 0 ? '1' : '0', queue_time: '30', msg_size: '900' }),
        );
        if (i % 2 === 0) out.push(ev('open', 200 + i), ev('open', 300 + i));
        if (i % 3 === 0)
          out.push(
            ev('click', 400 + i, {
              target_link_name: i % 2 ? 'a' : 'b',
              target_link_url: 'https://x.example/?q',
            }),
          );
      }
    }
  return out;
}

const events = traffic();
const window = { from: hour - 4 * 3_600_000, to: hour + 70 * 60_000 };
const query = (w: Record<string, unknown> = {}) => ({ ...window, ...w });

let redis: RedisServer;
const opened: Array<{ stores: Stores; dir: string }> = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const { stores, dir } of opened) {
    await stores.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await redis?.stop();
});

async function open(store: 'embedded' | 'redis'): Promise<Stores> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-metrics-query-'));
  const stores =
    store === 'embedded'
      ? openEmbeddedStores({ data_dir: dir })
      : await openStores(
          loadConfig({
            overrides: [
              `data_dir=${dir}`,
              'store.backend=redis',
              `store.redis.url=${redis.url}`,
              'store.redis.key_prefix=q:',
            ],
          }),
        );
  opened.push({ stores, dir });
  stores.events.appendMany(events);
  await (stores.events as { flush?: () => Promise<void> }).flush?.();
  return stores;
}

for (const store of ['embedded', 'redis'] as const)
  describe(`MetricsService on the ${store} store`, () => {
    let service: MetricsService;
    before(async () => {
      service = new MetricsService((await open(store)).metrics, { watchedDomains: ['q1.example'] });
    });

    test('summary: unfiltered, on one dimension, on two', async () => {
      assert.deepEqual(
        await service.summary(query({ precision: 'hour' }), {}, AGGREGATE_METRICS),
        pick(expectedMetrics(events), AGGREGATE_METRICS),
      );
      const odd = events.filter((e) => e.campaign_id === 'odd');
      assert.deepEqual(
        await service.summary(
          query({ precision: 'hour' }),
          { simple: { campaigns: ['odd'] } },
          AGGREGATE_METRICS,
        ),
        pick(expectedMetrics(odd, events), AGGREGATE_METRICS),
      );
      const both = odd.filter((e) => domainOf(e.rcpt_to) === 'q0.example');
      assert.ok(both.length > 0);
      assert.deepEqual(
        await service.summary(
          query({ precision: 'hour' }),
          { simple: { campaigns: ['odd'], domains: ['q0.example'] } },
          AGGREGATE_METRICS,
        ),
        pick(expectedMetrics(both, events), AGGREGATE_METRICS),
      );
    });

    test('group by domain, by campaign with a domain filter, by watched domain', async () => {
      const byDomain = await service.groupBy('domain', query({ precision: 'hour' }), {}, AGGREGATE_METRICS);
      for (const row of byDomain) {
        const { domain, ...counts } = row;
        const mine = events.filter((e) => domainOf(e.rcpt_to) === domain);
        assert.deepEqual(counts, pick(expectedMetrics(mine, events), AGGREGATE_METRICS), String(domain));
      }
      assert.equal(byDomain.length, 3);
      const filtered = await service.groupBy('campaign', query(), { simple: { domains: ['q2.example'] } }, [
        'count_injected',
      ]);
      for (const row of filtered)
        assert.equal(
          row.count_injected,
          events.filter(
            (e) =>
              e.type === 'injection' &&
              e.campaign_id === row.campaign_id &&
              domainOf(e.rcpt_to) === 'q2.example',
          ).length,
        );
      const watched = await service.groupBy('watched_domain', query(), {}, ['count_injected']);
      assert.deepEqual(watched, [{ watched_domain: 'q1.example', count_injected: 12 }]);
    });

    test('time-series by hour and by 15 minutes, each bucket the events in it', async () => {
      for (const precision of ['hour', '15min'] as const) {
        const series = await service.timeSeries(
          query({ precision }),
          { simple: { campaigns: ['even'] } },
          TIME_SERIES_METRICS,
        );
        const starts = series.map((r) => Date.parse(String(r.ts)));
        for (const [i, row] of series.entries()) {
          const inside = events.filter((e) => {
            const t = Date.parse(e.timestamp);
            return (
              e.campaign_id === 'even' && t >= starts[i]! && t < (starts[i + 1] ?? Number.POSITIVE_INFINITY)
            );
          });
          const { ts: _ts, ...counts } = row;
          assert.deepEqual(
            counts,
            pick(expectedMetrics(inside, events), TIME_SERIES_METRICS),
            `${precision} ${row.ts}`,
          );
        }
        assert.equal(
          series.reduce((n, r) => n + Number(r.count_injected), 0),
          events.filter((e) => e.type === 'injection' && e.campaign_id === 'even').length,
        );
      }
    });

    test('reasons by domain, link names of a campaign, lists', async () => {
      const bounces = await service.bounceReasons(query(), {}, ['count_bounce'], { byDomain: true });
      for (const domain of ['q0.example', 'q1.example', 'q2.example'])
        assert.equal(
          bounces.filter((r) => r.domain === domain).reduce((n, r) => n + Number(r.count_bounce), 0),
          events.filter((e) => e.type === 'bounce' && domainOf(e.rcpt_to) === domain).length,
        );
      assert.ok(bounces.every((r) => /^550 no …@q\d\.example$/.test(String(r.reason))));
      const delays = await service.delayReasons(query(), {});
      assert.deepEqual(delays, [
        {
          reason: '451 later',
          count_delayed: events.filter((e) => e.type === 'delay').length,
          count_delayed_first: events.filter((e) => e.type === 'delay').length,
        },
      ]);
      const links = await service.linkNames(query(), { simple: { campaigns: ['odd'] } }, [
        'count_clicked',
        'count_raw_clicked',
      ]);
      const oddClicks = events.filter((e) => e.type === 'click' && e.campaign_id === 'odd');
      assert.deepEqual(links, [
        { link_name: 'a', count_clicked: oddClicks.length, count_raw_clicked: oddClicks.length },
      ]);
      assert.deepEqual(await service.values('campaign', null), ['even', 'odd']);
      assert.deepEqual(await service.values('domain', query(), { match: 'Q2' }), ['q2.example']);
    });
  });
