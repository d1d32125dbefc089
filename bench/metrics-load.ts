/**
 * The metrics bench's data: N events of a plausible month of sending, made up deterministically
 * (seeded) and counted through the very rollup code the event stores run — aggregateEvents() on
 * each batch, then MetricsStore.apply() (SQLite: the writer used in the events' transaction;
 * Redis: the script the outbox runs) — so what is queried is what 10 million real events leave.
 *
 * The month: messages spread evenly over `days` up to now; 200 recipient domains with a Zipf
 * spread (the big mailbox providers first); 5 transactional campaigns always on and 4 marketing
 * campaigns a day out of 35, each with its template, sending domain and IP pool; per message an
 * injection, then a delivery (a few after delays, some bounced with reasons that name the
 * recipient), opens and initial opens for about a third, clicks on four named links for about one
 * in eight, hours later; 0.5% are policy rejections.
 */
import type { SluiceEvent } from '../src/core/events.js';
import { aggregateEvents, type RollupBatch } from '../src/core/metrics/rollup.js';

export interface LoadOptions {
  events: number;
  days: number;
  /** End of the generated month (ms). */
  now: number;
  seed?: number;
  batch?: number;
}

export interface LoadResult {
  events: number;
  messages: number;
  seconds: number;
}

const BIG = [
  'gmail.com',
  'yahoo.com',
  'hotmail.com',
  'outlook.com',
  'aol.com',
  'icloud.com',
  'gmx.de',
  'web.de',
];
const DOMAINS = [...BIG, ...Array.from({ length: 200 - BIG.length }, (_, i) => `d${i}.bench.example`)];
const BOUNCES: Array<[string, string, number]> = [
  ['10', '550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table', 50],
  ['22', '552 5.2.2 <{rcpt}>: Mailbox full', 12],
  ['51', '554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org', 12],
  ['52', '550 5.7.1 Message rejected as spam (content filter score 9.7)', 8],
  ['21', '554 5.4.4 [internal] Domain lookup failed', 8],
  ['25', '550 5.0.0 Message bounced by the administrator', 5],
  ['1', '554 Transaction failed', 5],
];
const DELAYS = [
  '421 4.7.0 [TSS04] Messages from 203.0.113.7 temporarily deferred due to unexpected volume',
  '451 4.3.0 Try again later',
  '450 4.2.1 <{rcpt}>: Mailbox busy, session 8f3a2c91d7',
];
const LINKS = ['hero', 'cta', 'footer', ''];

/** mulberry32: a small seeded PRNG, so every run loads the same month. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index by Zipf weights (s = 1.1), by cumulative table. */
function zipf(n: number, random: () => number): () => number {
  const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** 1.1);
  const total = weights.reduce((a, b) => a + b, 0);
  const cumulative: number[] = [];
  let sum = 0;
  for (const w of weights) {
    sum += w / total;
    cumulative.push(sum);
  }
  return () => {
    const r = random();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

function pickWeighted<T>(items: Array<[...unknown[], number]>, random: () => number): T {
  const total = items.reduce((n, item) => n + (item.at(-1) as number), 0);
  let r = random() * total;
  for (const item of items) {
    r -= item.at(-1) as number;
    if (r <= 0) return item as T;
  }
  return items[0] as T;
}

/** Makes the events and applies their rollups in batches; calls `progress` now and then. */
export async function loadRollups(
  apply: (batch: RollupBatch) => Promise<void>,
  options: LoadOptions,
  progress: (done: number) => void,
): Promise<LoadResult> {
  const random = prng(options.seed ?? 42);
  const domain = zipf(DOMAINS.length, random);
  const started = performance.now();
  const batchSize = options.batch ?? 10_000;
  const from = options.now - options.days * 86_400_000;
  // About 3.1 events per message on average (measured from the mix below).
  const messages = Math.ceil(options.events / 3.1);
  const step = (options.now - from - 6 * 3_600_000) / messages;
  let pending: SluiceEvent[] = [];
  let total = 0;
  let made = 0;
  let seq = 0;
  const flush = async () => {
    if (pending.length === 0) return;
    await apply(aggregateEvents(pending));
    total += pending.length;
    pending = [];
    if (total % 1_000_000 < batchSize) progress(total);
  };
  for (let m = 0; total + pending.length < options.events; m++) {
    made++;
    const at = from + m * step + random() * step;
    const day = Math.floor((at - from) / 86_400_000);
    const campaign =
      random() < 0.6 ? Math.floor(random() * 5) : 5 + ((day * 3 + Math.floor(random() * 4)) % 35);
    const rcptDomain = DOMAINS[domain()]!;
    const rcpt = `u${m % 500_000}@${rcptDomain}`;
    const base = {
      message_id: `m${m.toString(36)}`,
      rcpt_to: rcpt,
      routing_domain: rcptDomain,
      campaign_id: campaign < 5 ? `transactional-${campaign}` : `promo-${campaign}`,
      friendly_from: `news@s${campaign % 6}.bench.example`,
      template_id: `template-${campaign % 15}`,
      ip_pool: `pool-${campaign % 3}`,
      msg_size: String(8000 + Math.floor(random() * 40_000)),
    };
    const event = (type: string, ms: number, extra: Record<string, unknown> = {}): SluiceEvent => ({
      type: type as SluiceEvent['type'],
      event_id: String(seq++),
      timestamp: new Date(Math.min(ms, options.now - 1000)).toISOString(),
      ...base,
      ...extra,
    });
    if (random() < 0.005) {
      pending.push(
        event('policy_rejection', at, { raw_reason: `550 5.7.1 <${rcpt}>: recipient is suppressed` }),
      );
    } else {
      pending.push(event('injection', at));
      const outcome = random();
      const retries = outcome < 0.93 ? 0 : 1 + Math.floor(random() * 2);
      for (let r = 0; r < retries; r++)
        pending.push(
          event('delay', at + (r + 1) * 60_000, {
            num_retries: String(r),
            raw_reason: DELAYS[Math.floor(random() * DELAYS.length)]!.replace('{rcpt}', rcpt),
          }),
        );
      const done = at + retries * 60_000 + 2000;
      if (outcome > 0.965) {
        const [cls, reason] = pickWeighted<[string, string, number]>(BOUNCES, random);
        pending.push(
          event('bounce', done, {
            num_retries: String(retries),
            bounce_class: cls,
            raw_reason: reason.replace('{rcpt}', rcpt),
          }),
        );
      } else {
        pending.push(
          event('delivery', done, {
            num_retries: String(retries),
            queue_time: String(done - at + Math.floor(random() * 900)),
          }),
        );
        const engaged = random();
        if (engaged < 0.35) {
          const opened = done + random() * 6 * 3_600_000;
          pending.push(event('initial_open', opened));
          for (let o = 1 + Math.floor(random() * 2); o > 0; o--)
            pending.push(event('open', opened + o * 30_000));
        }
        if (engaged < 0.12)
          for (let c = 1 + Math.floor(random() * 2); c > 0; c--) {
            const link = LINKS[Math.floor(random() * LINKS.length)]!;
            pending.push(
              event('click', done + random() * 6 * 3_600_000, {
                target_link_name: link,
                target_link_url: `https://shop.bench.example/${link || 'page'}?u=${m}`,
              }),
            );
          }
      }
    }
    if (pending.length >= batchSize) await flush();
  }
  await flush();
  return { events: total, messages: made, seconds: (performance.now() - started) / 1000 };
}
