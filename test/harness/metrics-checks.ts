/**
 * The Metrics API, endpoint by endpoint, against the events it was counted from (used by
 * test/e2e/metrics.test.ts on each store): the summary at every precision, time-series at every
 * precision in UTC, America/New_York (DST) and Asia/Kolkata (a half-hour offset) with each
 * bucket holding exactly the events of [ts, next ts), every group-by, simple and advanced
 * filters, bounce/rejection/delay reasons, link names, attempts and the lists.
 */
import assert from 'node:assert/strict';
import { AGGREGATE_METRICS, TIME_SERIES_METRICS } from '../../src/core/metrics/definitions.js';
import { MAX_WINDOW, PRECISIONS, type Precision } from '../../src/core/metrics/time.js';
import type { ApiCall, Json } from './api-client.js';
import { categoryOf, domainOf, expectedMetrics, pick, sendingDomainOf } from './metrics-expect.js';

const AGGREGATE = AGGREGATE_METRICS.join(',');

/** A wall-clock time of `zone` as SparkPost's YYYY-MM-DDTHH:MM. */
export function localTime(ms: number, zone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(new Date(ms))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

/** The end of the bucket starting at `start` (ms): the next wall-clock midnight or noon for 12hr. */
function bucketEnd(precision: string, start: number, zone: string): number {
  const fixed: Record<string, number> = {
    '1min': 1,
    '5min': 5,
    '15min': 15,
    hour: 60,
    day: 1440,
    week: 10_080,
  };
  if (fixed[precision] !== undefined) return start + fixed[precision]! * 60_000;
  if (precision === 'month') {
    const d = new Date(start);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  // 12hr: 11 to 13 hours on a DST day.
  for (let t = start + 11 * 3_600_000; t <= start + 13 * 3_600_000; t += 1_800_000)
    if (/T(00|12):00$/.test(localTime(t, zone))) return t;
  throw new Error(`no 12hr boundary after ${new Date(start).toISOString()} in ${zone}`);
}

/** UTC bucket lengths (minutes) of the aggregate precisions, which round a window outwards. */
const ROUNDING: Record<string, number> = { '1min': 1, '5min': 5, '15min': 15, hour: 60, day: 1440 };

/**
 * The events a window given as YYYY-MM-DDTHH:MM in UTC covers once rounded out to its precision
 * (SparkPost's rule; absent, the finest whose limit holds the window: 1min up to a day, then hour).
 */
function inWindow(all: Json[], fromMs: number, toMs: number, precision: string | null): Json[] {
  const from = Math.floor(fromMs / 60_000);
  const to = Math.floor(toMs / 60_000);
  const size = ROUNDING[precision ?? (to - from <= 1440 ? '1min' : to - from <= 31 * 1440 ? 'hour' : 'day')]!;
  const lo = (from - (from % size)) * 60_000;
  const hi = Math.ceil(to / size) * size * 60_000;
  return all.filter((e) => {
    const t = Date.parse(e.timestamp);
    return t >= lo && t < hi;
  });
}

/**
 * Every endpoint over [from, to) against `all`, every event in the store (which the window,
 * rounded to each precision, selects from). A precision whose longest window (SparkPost's limit)
 * is shorter than this window is not asked for; returns the time-series precisions checked.
 */
export async function checkEndpoints(
  api: ApiCall,
  all: Json[],
  bounds: { from: number; to: number },
): Promise<string[]> {
  const fromMs = bounds.from;
  const toMs = bounds.to;
  const fits = (precision: string) =>
    (MAX_WINDOW[precision as Precision] ?? Number.POSITIVE_INFINITY) * 60_000 >= toMs - fromMs + 3_600_000;
  const checked: string[] = [];
  const window = `from=${localTime(fromMs, 'UTC')}&to=${localTime(toMs, 'UTC')}`;
  const get = async (path: string): Promise<Json[]> => {
    const answer = await api('GET', `/api/v1/metrics/${path}`);
    assert.equal(answer.status, 200, `${path}: ${JSON.stringify(answer.body)}`);
    return answer.body.results;
  };
  // What the endpoints below (no precision parameter) cover.
  const events = inWindow(all, fromMs, toMs, null);
  assert.ok(events.length > 0, 'events in the window');
  const total = expectedMetrics(events, all);

  for (const precision of ['1min', '5min', '15min', 'hour', 'day', null]) {
    if (precision && !fits(precision)) continue;
    const p = precision ? `&precision=${precision}` : '';
    const [summary] = await get(`deliverability?${window}${p}&metrics=${AGGREGATE}`);
    assert.deepEqual(
      summary,
      pick(expectedMetrics(inWindow(all, fromMs, toMs, precision), all), AGGREGATE_METRICS),
      `summary at ${precision ?? 'the default precision'}`,
    );
  }

  for (const zone of ['UTC', 'America/New_York', 'Asia/Kolkata'])
    for (const precision of PRECISIONS) {
      if (!fits(precision)) continue;
      if (zone === 'UTC') checked.push(precision);
      const span = `from=${localTime(fromMs, zone)}&to=${localTime(toMs, zone)}&timezone=${encodeURIComponent(zone)}`;
      const series = await get(
        `deliverability/time-series?${span}&precision=${precision}&metrics=${TIME_SERIES_METRICS.join(',')}`,
      );
      const starts = series.map((row) => Date.parse(row.ts));
      assert.ok(
        starts.every(Number.isFinite) && starts.length > 0,
        `${zone} ${precision}: ts ${series[0]?.ts}`,
      );
      assert.ok(starts[0]! <= fromMs, `${zone} ${precision}: the first bucket holds from`);
      const utc = ['day', 'week', 'month'].includes(precision);
      const offset = utc || zone === 'UTC' ? /\+00:00$/ : zone === 'Asia/Kolkata' ? /\+05:30$/ : /-0[45]:00$/;
      for (const [i, row] of series.entries()) {
        assert.match(row.ts, offset, `${zone} ${precision}`);
        const next = starts[i + 1] ?? bucketEnd(precision, starts[i]!, zone);
        const inside = all.filter((e) => {
          const t = Date.parse(e.timestamp);
          return t >= starts[i]! && t < next;
        });
        const { ts: _ts, ...counts } = row;
        assert.deepEqual(
          counts,
          pick(expectedMetrics(inside, all), TIME_SERIES_METRICS),
          `${zone} ${precision} ${row.ts}`,
        );
      }
    }

  const groupings: Array<[string, string, (e: Json) => string | number | null]> = [
    ['domain', 'domain', (e) => domainOf(e.rcpt_to)],
    ['campaign', 'campaign_id', (e) => e.campaign_id ?? ''],
    ['sending-domain', 'sending_domain', (e) => sendingDomainOf(e)],
    ['template', 'template_id', (e) => e.template_id ?? ''],
    [
      'watched-domain',
      'watched_domain',
      (e) => (domainOf(e.rcpt_to) === 'd1.metrics.example' ? 'd1.metrics.example' : null),
    ],
    ['subaccount', 'subaccount_id', () => 0],
    ['ip-pool', 'ip_pool', (e) => e.ip_pool ?? ''],
  ];
  for (const [path, field, keyOf] of groupings) {
    const rows = await get(`deliverability/${path}?${window}&metrics=${AGGREGATE}`);
    const groups = new Map<string | number, Json[]>();
    for (const e of events) {
      const key = keyOf(e);
      if (key !== null) groups.set(key, [...(groups.get(key) ?? []), e]);
    }
    assert.deepEqual(new Set(rows.map((r) => r[field])), new Set(groups.keys()), `${path} groups`);
    for (const row of rows) {
      const { [field]: key, ...counts } = row;
      assert.deepEqual(
        counts,
        pick(expectedMetrics(groups.get(key)!, all), AGGREGATE_METRICS),
        `${path} ${key}`,
      );
    }
    const firsts = rows.map((r) => r.count_injected);
    assert.deepEqual(
      firsts,
      [...firsts].sort((a, b) => b - a),
      `${path}: ordered by the first metric`,
    );
  }
  const byBounce = await get(
    `deliverability/domain?${window}&metrics=count_injected&order_by=count_bounce&limit=1`,
  );
  const domains = [...new Set(events.map((e) => domainOf(e.rcpt_to)))];
  const mostBounces = Math.max(
    ...domains.map((d) => expectedMetrics(events.filter((e) => domainOf(e.rcpt_to) === d)).count_bounce!),
  );
  assert.equal(byBounce.length, 1);
  assert.equal(
    expectedMetrics(events.filter((e) => domainOf(e.rcpt_to) === byBounce[0].domain)).count_bounce,
    mostBounces,
  );
  assert.deepEqual(
    Object.keys(byBounce[0]).sort(),
    ['count_injected', 'domain'],
    'the order metric need not be returned',
  );

  const filtered = async (query: string, keep: (e: Json) => boolean, what: string, delimiter = ',') => {
    const metrics = AGGREGATE_METRICS.join(delimiter);
    const [summary] = await get(`deliverability?${window}&metrics=${metrics}&${query}`);
    const mine = events.filter(keep);
    assert.ok(mine.length > 0 && mine.length < events.length, `${what} selects some events`);
    assert.deepEqual(summary, pick(expectedMetrics(mine, all), AGGREGATE_METRICS), what);
  };
  await filtered('campaigns=spring', (e) => e.campaign_id === 'spring', 'campaigns');
  await filtered(
    'delimiter=;&domains=d1.metrics.example;d3.metrics.example',
    (e) => ['d1.metrics.example', 'd3.metrics.example'].includes(domainOf(e.rcpt_to)),
    'domains with another delimiter (metrics too)',
    ';',
  );
  await filtered(
    'sending_domains=shop.example',
    (e) => sendingDomainOf(e) === 'shop.example',
    'sending domains',
  );
  const advanced = {
    groupings: [{ OR: { campaigns: { eq: ['autumn'] }, domains: { like: ['d1.METRICS'] } } }],
  };
  await filtered(
    `query_filters=${encodeURIComponent(JSON.stringify(advanced))}`,
    (e) => e.campaign_id === 'autumn' || domainOf(e.rcpt_to) === 'd1.metrics.example',
    'query_filters OR with like',
  );
  const [everything] = await get(
    `deliverability?${window}&metrics=count_injected&subaccounts=0&ip_pools=default`,
  );
  assert.equal(everything.count_injected, total.count_injected);

  const bounces = events.filter((e) => e.type === 'bounce' || e.type === 'out_of_band');
  const reasons = await get(
    `deliverability/bounce-reason?${window}&metrics=count_bounce,count_inband_bounce,count_outofband_bounce,count_admin_bounce`,
  );
  const byClass = (list: Json[]) => {
    const out = new Map<number, number>();
    for (const r of list) out.set(r.classification_id, (out.get(r.classification_id) ?? 0) + r.count_bounce);
    return out;
  };
  const eventClasses = new Map<number, number>();
  for (const e of bounces)
    eventClasses.set(Number(e.bounce_class), (eventClasses.get(Number(e.bounce_class)) ?? 0) + 1);
  assert.deepEqual(byClass(reasons), eventClasses, 'bounce reasons by class');
  for (const r of reasons) {
    assert.ok(!/(hard|soft|block|stuck)\d*@/.test(r.reason), `no recipient in a grouped reason: ${r.reason}`);
    assert.equal(r.count_admin_bounce, categoryOf(r.classification_id) === 'Admin' ? r.count_bounce : 0);
    assert.equal(r.bounce_category_name, categoryOf(r.classification_id));
  }
  assert.ok(
    reasons.some((r) => /user unknown/.test(r.reason) && r.bounce_class_name === 'Invalid Recipient'),
  );
  const byDomain = await get(`deliverability/bounce-reason/domain?${window}&metrics=count_bounce`);
  for (const domain of domains)
    assert.equal(
      byDomain.filter((r) => r.domain === domain).reduce((n, r) => n + r.count_bounce, 0),
      bounces.filter((e) => domainOf(e.rcpt_to) === domain).length,
      `bounces at ${domain}`,
    );
  const classes = await get(
    `deliverability/bounce-classification?${window}&metrics=count_bounce,count_admin_bounce`,
  );
  assert.deepEqual(byClass(classes), eventClasses);

  // Refusals at RCPT are policy rejections (category 1), suppressed recipients of a transmission
  // generation rejections (2), messages that could not be generated generation failures (3).
  const categories: Array<[string, number, string]> = [
    ['policy_rejection', 1, 'Policy Rejection'],
    ['generation_rejection', 2, 'Generation Rejection'],
    ['generation_failure', 3, 'Generation Failure'],
  ];
  const rejections = events.filter((e) => categories.some(([type]) => type === e.type));
  const rejected = await get(`deliverability/rejection-reason?${window}`);
  for (const [type, id, name] of categories) {
    const rows = rejected.filter((r) => r.rejection_category_id === id);
    assert.ok(
      rows.every((r) => r.rejection_type === name),
      name,
    );
    assert.equal(
      rows.reduce((n, r) => n + r.count_rejected, 0),
      events.filter((e) => e.type === type).length,
      `${type} counted as ${name}`,
    );
  }
  assert.equal(
    rejected.reduce((n, r) => n + r.count_rejected, 0),
    rejections.length,
    'every rejection has its category',
  );
  const rejectedByDomain = await get(`deliverability/rejection-reason/domain?${window}`);
  const rejectedDomains = [...new Set(rejections.map((e) => domainOf(e.rcpt_to)))];
  assert.deepEqual(
    rejectedDomains.map((d) =>
      rejectedByDomain.filter((r) => r.domain === d).reduce((n, r) => n + r.count_rejected, 0),
    ),
    rejectedDomains.map((d) => rejections.filter((e) => domainOf(e.rcpt_to) === d).length),
    'rejections by domain',
  );
  assert.deepEqual(
    new Set(rejectedByDomain.map((r) => r.domain)),
    new Set(rejectedDomains),
    'no domain without a rejection',
  );

  const delays = events.filter((e) => e.type === 'delay');
  const delayed = await get(`deliverability/delay-reason?${window}`);
  assert.deepEqual(
    delayed.map((r) => [r.reason, r.count_delayed, r.count_delayed_first]),
    [['451 4.3.0 Try again later', delays.length, delays.filter((e) => e.num_retries === '0').length]],
    'one reason for every delay: grouped',
  );
  const delayedByDomain = await get(`deliverability/delay-reason/domain?${window}`);
  for (const row of delayedByDomain)
    assert.equal(
      row.count_delayed,
      delays.filter((e) => domainOf(e.rcpt_to) === row.domain).length,
      row.domain,
    );

  const clicks = events.filter((e) => e.type === 'click');
  const linkOf = (e: Json) => e.target_link_name || String(e.target_link_url).replace(/[?#].*$/, '');
  const links = await get(`deliverability/link-name?${window}&metrics=count_clicked,count_raw_clicked`);
  const expectedLinks = [...new Set(clicks.map(linkOf))].map((name) => {
    const mine = clicks.filter((e) => linkOf(e) === name);
    return {
      link_name: name,
      count_clicked: new Set(mine.map((e) => `${e.message_id}\n${e.rcpt_to}`)).size,
      count_raw_clicked: mine.length,
    };
  });
  assert.deepEqual(
    [...links].sort((a, b) => a.link_name.localeCompare(b.link_name)),
    expectedLinks.sort((a, b) => a.link_name.localeCompare(b.link_name)),
  );
  assert.ok(
    links.some((l) => l.link_name === 'buy'),
    'data-msys-linkname names a link',
  );

  const deliveries = events.filter((e) => e.type === 'delivery');
  const attempts = await get(`deliverability/attempt?${window}`);
  const tries = (test: (n: number) => boolean) =>
    deliveries.filter((e) => test(Number(e.num_retries))).length;
  const expectedAttempts = [
    { attempt: '1', count_delivered: tries((n) => n === 0) },
    { attempt: '2', count_delivered: tries((n) => n === 1) },
    { attempt: '3+', count_delivered: tries((n) => n >= 2) },
  ].filter((a) => a.count_delivered > 0);
  assert.deepEqual(attempts, expectedAttempts);

  const campaigns = await api('GET', `/api/v1/metrics/campaigns?${window}`);
  assert.deepEqual(campaigns.body, { results: { campaigns: ['api', 'autumn', 'spring'] } });
  const matched = await api('GET', '/api/v1/metrics/domains?match=D2');
  assert.deepEqual(matched.body, { results: { domains: ['d2.metrics.example'] } });
  const pools = await api('GET', '/api/v1/metrics/ip-pools?limit=5');
  assert.deepEqual(pools.body, { results: { 'ip-pools': ['default'] } });
  return checked;
}

/**
 * SparkPost's documented response examples (developers.sparkpost.com, Metrics API), one row of
 * each, with the query that asks for the same fields: an answer must have the same fields with
 * the same JSON types.
 */
const DOCUMENTED: Array<[string, Record<string, unknown>]> = [
  [
    'deliverability/domain?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      domain: 'aol.com',
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
    },
  ],
  [
    'deliverability/sending-domain?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
      sending_domain: 'foo.example.com',
    },
  ],
  [
    'deliverability/subaccount?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
      subaccount_id: 0,
    },
  ],
  [
    'deliverability/campaign?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      campaign_id: 'campaign-0',
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
    },
  ],
  [
    'deliverability/template?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      template_id: 'template-0',
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
    },
  ],
  [
    'deliverability/watched-domain?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      watched_domain: 'aol.com',
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
    },
  ],
  [
    'deliverability/ip-pool?metrics=count_targeted,count_injected,count_rejected,count_sent',
    {
      ip_pool: 'ip-pool-0',
      count_targeted: 34432,
      count_injected: 32323,
      count_rejected: 2343,
      count_sent: 34344,
    },
  ],
  [
    'deliverability/time-series?precision=day&metrics=count_accepted,count_delivered,count_unique_clicked,total_msg_volume',
    {
      count_accepted: 217489,
      count_delivered: 219916,
      count_unique_clicked: 9123,
      total_msg_volume: 1111464137,
      ts: '2020-10-04T00:00:00-04:00',
    },
  ],
  [
    'deliverability/bounce-reason?metrics=count_inband_bounce,count_outofband_bounce,count_bounce',
    {
      reason: 'Some Fake Reason',
      bounce_class_name: 'Invalid Recipient',
      bounce_class_description: 'The recipient is invalid',
      bounce_category_id: 1,
      bounce_category_name: 'Hard',
      classification_id: 10,
      count_inband_bounce: 133,
      count_outofband_bounce: 126,
      count_bounce: 259,
    },
  ],
  [
    'deliverability/bounce-reason/domain?metrics=count_inband_bounce,count_outofband_bounce,count_bounce',
    {
      reason: 'Some Fake Reason',
      domain: 'aol.com',
      bounce_class_name: 'Invalid Recipient',
      bounce_class_description: 'The recipient is invalid',
      bounce_category_id: 1,
      bounce_category_name: 'Hard',
      classification_id: 10,
      count_inband_bounce: 133,
      count_outofband_bounce: 126,
      count_bounce: 259,
    },
  ],
  [
    'deliverability/bounce-classification?metrics=count_bounce,count_inband_bounce,count_outofband_bounce',
    {
      bounce_class_name: 'Invalid Recipient',
      bounce_class_description: 'The recipient is invalid',
      bounce_category_name: 'Hard',
      count_bounce: 249,
      count_inband_bounce: 224,
      count_outofband_bounce: 25,
      classification_id: 10,
    },
  ],
  [
    'deliverability/rejection-reason?',
    {
      reason: '503 rejection message',
      count_rejected: 24,
      rejection_category_id: 1,
      rejection_type: 'Policy Rejection',
    },
  ],
  [
    'deliverability/rejection-reason/domain?',
    {
      reason: '503 rejection message',
      domain: 'aol.com',
      count_rejected: 24,
      rejection_category_id: 1,
      rejection_type: 'Policy Rejection',
    },
  ],
  [
    'deliverability/delay-reason?',
    { reason: '400 fake tempfail reason', count_delayed: 200, count_delayed_first: 100 },
  ],
  [
    'deliverability/delay-reason/domain?',
    {
      reason: '400 fake tempfail reason',
      domain: 'example.com',
      count_delayed: 200,
      count_delayed_first: 100,
    },
  ],
  [
    'deliverability/link-name?metrics=count_clicked,count_raw_clicked',
    { link_name: 'top banner link', count_clicked: 123, count_raw_clicked: 456 },
  ],
  ['deliverability/attempt?', { attempt: '1', count_delivered: 100 }],
];

/** Field name → JSON type, for comparing shapes. */
const shapeOf = (row: Record<string, unknown>) =>
  Object.fromEntries(
    Object.entries(row)
      .map(([k, v]) => [k, typeof v])
      .sort(([a], [b]) => String(a).localeCompare(String(b))),
  );

export async function checkDocumentedShapes(api: ApiCall, started: number): Promise<void> {
  const window = `from=${localTime(started - 120_000, 'UTC')}&to=${localTime(Date.now() + 60_000, 'UTC')}`;
  for (const [query, example] of DOCUMENTED) {
    const answer = await api('GET', `/api/v1/metrics/${query}&${window}`);
    assert.equal(answer.status, 200, `${query}: ${JSON.stringify(answer.body)}`);
    assert.deepEqual(Object.keys(answer.body), ['results'], query);
    const [row] = answer.body.results as Array<Record<string, unknown>>;
    assert.ok(row, `${query}: a row to compare`);
    assert.deepEqual(shapeOf(row), shapeOf(example), query);
  }
  const summary = await api(
    'GET',
    `/api/v1/metrics/deliverability?${window}&metrics=count_targeted,count_injected,count_rejected,count_sent`,
  );
  assert.deepEqual(
    shapeOf(summary.body.results[0]),
    shapeOf({ count_targeted: 1, count_injected: 1, count_rejected: 1, count_sent: 1 }),
  );
  assert.deepEqual(summary.body.links[0], {
    href: '/api/v1/metrics/deliverability',
    rel: 'deliverability',
    method: 'GET',
  });
  for (const [path, name] of [
    ['campaigns', 'campaigns'],
    ['templates', 'templates'],
    ['domains', 'domains'],
    ['sending-domains', 'sending-domains'],
    ['ip-pools', 'ip-pools'],
  ] as const) {
    const list = await api('GET', `/api/v1/metrics/${path}?${window}`);
    assert.equal(list.status, 200);
    assert.deepEqual(Object.keys(list.body.results), [name]);
    assert.ok(
      Array.isArray(list.body.results[name]) &&
        list.body.results[name].every((v: unknown) => typeof v === 'string'),
    );
  }
  const root = await api('GET', '/api/v1/metrics/');
  assert.deepEqual(root.body.results, {});
  assert.deepEqual(root.body.links[0], { href: '/api/v1/metrics/', rel: '', method: 'GET' });
  assert.ok(
    root.body.links.some(
      (l: Json) => l.href === '/api/v1/metrics/deliverability' && l.rel === 'deliverability',
    ),
  );
}
