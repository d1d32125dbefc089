/**
 * The MetricsStore contract, run against every adapter and every path that writes events
 * (embedded main thread, embedded writer thread, Redis outbox): events appended through the
 * event store come out of the rollups as the counts of those events — per combination, per
 * bucket, in TOTAL, at every resolution — with reasons grouped and unique counts counted once
 * per message (its message_id, whatever its queue_id) across batches; apply() adds a batch
 * directly; prune() forgets quiet combinations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventType, SluiceEvent } from '../../src/core/events.js';
import { C, COUNTER_COUNT } from '../../src/core/metrics/definitions.js';
import { addCount, dimsKey, emptyBatch, type Resolution } from '../../src/core/metrics/rollup.js';
import type { EventStore, MetricsSpan, MetricsStore } from '../../src/store/types.js';

export interface MetricsFixture {
  events: EventStore;
  metrics: MetricsStore;
  /** Resolves once everything appended so far is in the store. */
  settle(): Promise<void>;
}

let seq = 0;

/** The start of the hour three hours ago: every event of a test lands in one hour and one day. */
function baseMinute(): number {
  return Math.floor(Date.now() / 3_600_000) * 60 - 180;
}

function event(
  type: string,
  minute: number,
  fields: Partial<SluiceEvent> & { rcpt_to: string },
): SluiceEvent {
  seq++;
  return {
    type: type as EventType,
    event_id: `m${seq}`,
    timestamp: new Date(minute * 60_000 + (seq % 50) * 1000).toISOString(),
    message_id: `msg-${seq}`,
    routing_domain: fields.rcpt_to.slice(fields.rcpt_to.indexOf('@') + 1),
    friendly_from: 'news@send.example',
    ip_pool: 'default',
    ...fields,
  };
}

const zero = () => new Array<number>(COUNTER_COUNT).fill(0);

function expectCounts(
  actual: number[] | undefined,
  expected: Partial<Record<keyof typeof C, number>>,
  where: string,
) {
  const want = zero();
  for (const [name, value] of Object.entries(expected)) want[C[name as keyof typeof C]] = value;
  assert.deepEqual(actual ?? zero(), want, where);
}

/** A mix of every event type over two minutes, appended in two writes. */
function mix(t: number) {
  const a = { message_id: 'A', rcpt_to: 'a@d1.example', campaign_id: 'c1' };
  const b = { message_id: 'B', rcpt_to: 'b@d2.example', campaign_id: 'c2' };
  const first: SluiceEvent[] = [
    event('injection', t, a),
    event('injection', t, b),
    event('injection', t, { message_id: 'C', rcpt_to: 'c@d2.example', campaign_id: 'c1' }),
    event('injection', t, { message_id: 'D', rcpt_to: 'd@d1.example', campaign_id: 'c2' }),
    event('delivery', t, { ...a, num_retries: '0', queue_time: '100', msg_size: '1000' }),
    event('delay', t, { ...b, num_retries: '0', raw_reason: '421 4.7.0 try later' }),
    event('bounce', t, {
      message_id: 'C',
      rcpt_to: 'c@d2.example',
      campaign_id: 'c1',
      bounce_class: '10',
      raw_reason: '550 5.1.1 <c@d2.example>: user unknown',
    }),
    event('policy_rejection', t, {
      rcpt_to: 'e@d1.example',
      campaign_id: 'c1',
      raw_reason: '550 5.7.1 suppressed',
    }),
    event('open', t, a),
    event('initial_open', t, a),
    event('click', t, { ...a, target_link_name: 'buy', target_link_url: 'https://shop.example/buy?u=1' }),
  ];
  // The same message A spooled again under another queue id (an upstream milter named it): still
  // one message, so its second open and click count no new unique.
  const again = { ...a, queue_id: 'A-spool-2' };
  const second: SluiceEvent[] = [
    event('open', t + 1, again),
    event('click', t + 1, {
      ...again,
      target_link_name: 'buy',
      target_link_url: 'https://shop.example/buy?u=1',
    }),
    event('click', t + 1, { ...a, target_link_name: '', target_link_url: 'https://shop.example/faq?u=1#q' }),
    event('delay', t + 1, { ...b, num_retries: '1', raw_reason: '421 4.7.0 try later' }),
    event('delivery', t + 1, { ...b, num_retries: '2', queue_time: '5000', msg_size: '2000' }),
    event('bounce', t + 1, {
      message_id: 'D',
      rcpt_to: 'd@d1.example',
      campaign_id: 'c2',
      bounce_class: '50',
      raw_reason: '554 blocked',
    }),
    event('out_of_band', t + 1, {
      message_id: 'D',
      rcpt_to: 'd@d1.example',
      campaign_id: 'c2',
      bounce_class: '10',
      raw_reason: '550 no such user',
    }),
    event('generation_failure', t + 1, {
      rcpt_to: 'f@d2.example',
      campaign_id: 'c2',
      raw_reason: 'missing {{name}}',
    }),
  ];
  return { first, second };
}

const TOTALS = {
  injected: 4,
  delivered: 2,
  delivered_first: 1,
  delivery_time_first: 100,
  delivery_time_subsequent: 5000,
  msg_volume: 3000,
  policy_rejection: 1,
  generation_failed: 1,
  inband_bounce: 2,
  outofband_bounce: 1,
  hard_bounce: 2,
  block_bounce: 1,
  delayed: 2,
  delayed_first: 1,
  rendered: 2,
  initial_rendered: 1,
  unique_rendered: 1,
  unique_initial_rendered: 1,
  unique_confirmed_opened: 1,
  clicked: 3,
  unique_clicked: 1,
};

export function metricsContract(name: string, open: () => Promise<MetricsFixture>): void {
  compactionTest(name, open);
  test(`${name}: events are counted into rollups at every resolution, per combination and in total`, async () => {
    const { events, metrics, settle } = await open();
    const t = baseMinute();
    const { first, second } = mix(t);
    for (const e of first) events.append(e);
    events.appendMany(second);
    await settle();

    for (const res of ['minute', 'hour', 'day'] as Resolution[]) {
      const size = res === 'minute' ? 1 : res === 'hour' ? 60 : 1440;
      const from = t - (t % size);
      const span: MetricsSpan = { res, from, to: from + Math.max(size, 2) };
      const total = await metrics.sum([span], 'total', 'none');
      expectCounts(total.get(''), TOTALS, `TOTAL at ${res}`);
    }

    const some = await metrics.sum(
      [{ res: 'hour', from: t - (t % 60), to: t - (t % 60) + 60 }],
      null,
      'none',
      [C.delivered, C.unique_clicked],
    );
    expectCounts(some.get(''), { delivered: 2, unique_clicked: 1 }, 'only the counters asked for');

    const minutes = await metrics.sum([{ res: 'minute', from: t, to: t + 2 }], 'total', 'bucket');
    assert.deepEqual([...minutes.keys()].sort(), [String(t), String(t + 1)]);
    expectCounts(
      minutes.get(String(t + 1)),
      {
        rendered: 1,
        clicked: 2,
        delayed: 1,
        delivered: 1,
        delivery_time_subsequent: 5000,
        msg_volume: 2000,
        inband_bounce: 1,
        outofband_bounce: 1,
        block_bounce: 1,
        hard_bounce: 1,
        generation_failed: 1,
      },
      'second minute',
    );

    const dims = (await metrics.dimensions()).filter((d) => d.kind === 'full');
    const c1 = dims.filter((d) => d.dims.campaign === 'c1').map((d) => d.ref);
    assert.equal(c1.length, 2, 'c1 went to two recipient domains');
    assert.ok(dims.every((d) => d.dims.sending_domain === 'send.example' && d.dims.ip_pool === 'default'));
    const hour = { res: 'hour' as const, from: t - (t % 60), to: t - (t % 60) + 60 };
    const byRef = await metrics.sum([hour], c1, 'ref');
    const domainOf = (ref: string) => dims.find((d) => d.ref === ref)!.dims.domain;
    const c1d1 = [...byRef].find(([ref]) => domainOf(ref) === 'd1.example')![1];
    expectCounts(
      c1d1,
      {
        injected: 1,
        delivered: 1,
        delivered_first: 1,
        delivery_time_first: 100,
        msg_volume: 1000,
        policy_rejection: 1,
        rendered: 2,
        initial_rendered: 1,
        unique_rendered: 1,
        unique_initial_rendered: 1,
        unique_confirmed_opened: 1,
        clicked: 3,
        unique_clicked: 1,
      },
      'c1 at d1',
    );
    const c1only = await metrics.sum([hour], c1, 'none');
    expectCounts(
      c1only.get(''),
      { ...pick(c1d1), injected: 2, inband_bounce: 1, hard_bounce: 1 },
      'c1 summed',
    );
    const all = await metrics.sum(
      [hour],
      dims.map((d) => d.ref),
      'ref',
    );
    assert.equal(all.size, dims.length, 'every combination');
    const domains = (await metrics.dimensions()).filter((d) => d.kind === 'domain');
    assert.deepEqual(domains.map((d) => d.dims.domain).sort(), ['d1.example', 'd2.example']);
    const perDomain = await metrics.sum(
      [hour],
      domains.map((d) => d.ref),
      'ref',
      [C.injected],
    );
    assert.deepEqual(
      domains.map((d) => perDomain.get(d.ref)?.[C.injected]),
      domains.map((d) => (d.dims.domain === 'd1.example' ? 2 : 2)),
      'the domain projection: injections per domain',
    );

    const bounces = await metrics.reasons('bounce', [hour], 'total', false);
    assert.deepEqual(bounces.map((r) => [r.cls, r.reason, ...r.n]).sort(), [
      [10, '550 5.1.1 <…@d2.example>: user unknown', 1, 0],
      [10, '550 no such user', 0, 1],
      [50, '554 blocked', 1, 0],
    ]);
    const delays = await metrics.reasons('delay', [hour], 'total', false);
    assert.deepEqual(
      delays.map((r) => [r.reason, ...r.n]),
      [['421 4.7.0 try later', 2, 1]],
    );
    const rejections = await metrics.reasons('rejection', [hour], 'total', false);
    assert.deepEqual(rejections.map((r) => [r.cls, r.reason, r.n[0]]).sort(), [
      [1, '550 5.7.1 suppressed', 1],
      [3, 'missing {{name}}', 1],
    ]);
    const links = await metrics.reasons('link', [hour], 'total', false);
    assert.deepEqual(links.map((r) => [r.reason, ...r.n]).sort(), [
      ['buy', 2, 1],
      ['https://shop.example/faq', 1, 1],
    ]);
    const linksByRef = await metrics.reasons('link', [hour], c1, true);
    assert.ok(linksByRef.every((r) => r.ref !== null && c1.includes(r.ref)));
    assert.equal(linksByRef.length, 2);
    assert.deepEqual(await metrics.reasons('bounce', [hour], [], false), []);
  });

  test(`${name}: apply() adds a batch; deltas past the minute retention keep their hour and day rows`, async () => {
    const { metrics } = await open();
    const dims = dimsKey({
      domain: 'applied.example',
      campaign: 'bulk',
      sending_domain: 's.example',
      template: 't1',
      subaccount: 7,
      ip_pool: 'p',
    });
    const now = Date.now();
    const old = Math.floor(now / 60_000) - 30 * 1440; // 30 days ago: no minute rows by default (7 days)
    const batch = emptyBatch();
    addCount(batch, old, dims, C.injected, 5);
    batch.dims.set(dims, old);
    await metrics.apply(batch);
    const { oldest } = await metrics.coverage(now);
    assert.ok(oldest.minute > old && oldest.hour <= old, 'the minute bucket is past retention');
    const minute = await metrics.sum([{ res: 'minute', from: old, to: old + 1 }], 'total', 'none');
    assert.equal(minute.size, 0);
    const day = old - (old % 1440);
    const total = await metrics.sum([{ res: 'day', from: day, to: day + 1440 }], 'total', 'none');
    expectCounts(total.get(''), { injected: 5 }, 'day TOTAL');
    const entry = (await metrics.dimensions()).find((d) => d.kind === 'full' && d.dims.campaign === 'bulk');
    assert.deepEqual(entry?.dims, {
      domain: 'applied.example',
      campaign: 'bulk',
      sending_domain: 's.example',
      template: 't1',
      subaccount: 7,
      ip_pool: 'p',
    });

    // A year on, the combination has been quiet for longer than the retention: pruned.
    await metrics.prune(now + 366 * 86_400_000);
    assert.equal(
      (await metrics.dimensions()).find((d) => d.dims.campaign === 'bulk'),
      undefined,
    );
  });
}

/** Registers the compaction test; separate so the contract reads in order. */
function compactionTest(name: string, open: () => Promise<MetricsFixture>): void {
  test(`${name}: the current hour is minute rows until compact() folds it, once, with its projections`, async () => {
    const { events, metrics, settle } = await open();
    const now = Date.now();
    const minute = Math.floor(now / 60_000);
    const hour = minute - (minute % 60);
    const at = (type: string, rcpt: string, campaign: string) =>
      event(type, minute, { rcpt_to: rcpt, campaign_id: campaign, timestamp: new Date(now).toISOString() });
    events.appendMany([
      at('injection', 'a@x1.example', 'k1'),
      at('injection', 'b@x2.example', 'k1'),
      at('injection', 'c@x2.example', 'k2'),
      at('delivery', 'a@x1.example', 'k1'),
    ]);
    await settle();
    const span = { res: 'hour' as const, from: hour, to: hour + 60 };
    assert.equal((await metrics.coverage(now)).folded, hour, 'a fresh store folds from the current hour');
    assert.equal((await metrics.sum([span], 'total', 'none')).size, 0, 'not folded yet');
    const minutes = (
      await metrics.sum([{ res: 'minute', from: minute, to: minute + 1 }], 'total', 'none')
    ).get('');
    expectCounts(minutes, { injected: 3, delivered: 1, delivered_first: 1 }, 'the minute rows');

    const later = (hour + 63) * 60_000;
    assert.equal(await metrics.compact(later), 1, 'one finished hour');
    assert.equal((await metrics.coverage(later)).folded, hour + 60);
    assert.equal(await metrics.compact(later), 0, 'nothing twice');
    expectCounts(
      (await metrics.sum([span], 'total', 'none')).get(''),
      { injected: 3, delivered: 1, delivered_first: 1 },
      'hour TOTAL',
    );
    const day = { res: 'day' as const, from: hour - (hour % 1440), to: hour - (hour % 1440) + 1440 };
    expectCounts(
      (await metrics.sum([day], 'total', 'none')).get(''),
      { injected: 3, delivered: 1, delivered_first: 1 },
      'day TOTAL',
    );
    const campaigns = (await metrics.dimensions()).filter((d) => d.kind === 'campaign');
    const perCampaign = await metrics.sum(
      [span],
      campaigns.map((d) => d.ref),
      'ref',
    );
    assert.deepEqual(
      Object.fromEntries(campaigns.map((d) => [d.dims.campaign, perCampaign.get(d.ref)?.[C.injected]])),
      { k1: 2, k2: 1 },
    );
  });
}

function pick(row: number[]): Partial<Record<keyof typeof C, number>> {
  const out: Partial<Record<keyof typeof C, number>> = {};
  for (const [name, index] of Object.entries(C)) if (row[index]) out[name as keyof typeof C] = row[index];
  return out;
}
