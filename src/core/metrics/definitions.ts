/**
 * What SparkPost's Metrics API counts, as data: the counters a rollup row keeps (their order is
 * the storage layout: an index names a column in SQLite and a position in a Redis row, so new
 * counters are only ever appended), the API's metric names as sums of counters, bounce classes
 * with SparkPost's names and categories, and rejection categories. Nothing here reads or writes a
 * store; rollup.ts turns events into counters and query.ts turns counters into metrics.
 */

/** Rollup counters, in storage order. Never reorder or remove: append new ones at the end. */
export const COUNTERS = [
  'injected',
  'delivered',
  'delivered_first',
  'delivered_second',
  'delivery_time_first',
  'delivery_time_subsequent',
  'msg_volume',
  'policy_rejection',
  'generation_rejection',
  'generation_failed',
  'inband_bounce',
  'outofband_bounce',
  'hard_bounce',
  'soft_bounce',
  'block_bounce',
  'admin_bounce',
  'undetermined_bounce',
  'delayed',
  'delayed_first',
  'rendered',
  'initial_rendered',
  'unique_rendered',
  'unique_initial_rendered',
  'unique_confirmed_opened',
  'clicked',
  'unique_clicked',
] as const;

export type Counter = (typeof COUNTERS)[number];

/** Position of each counter in a row. */
export const C = Object.fromEntries(COUNTERS.map((name, i) => [name, i])) as Record<Counter, number>;

export const COUNTER_COUNT = COUNTERS.length;

/** A metric as the API names it: a signed sum of counters (count_accepted subtracts, floored at 0). */
interface MetricFormula {
  plus: Counter[];
  minus?: Counter[];
}

const one = (counter: Counter): MetricFormula => ({ plus: [counter] });

/** Every metric Sluice computes, by SparkPost's name. */
export const METRICS: Record<string, MetricFormula> = {
  count_injected: one('injected'),
  count_targeted: {
    plus: ['injected', 'policy_rejection', 'generation_rejection', 'generation_failed'],
  },
  count_rejected: { plus: ['policy_rejection', 'generation_rejection', 'generation_failed'] },
  count_policy_rejection: one('policy_rejection'),
  count_generation_rejection: one('generation_rejection'),
  count_generation_failed: one('generation_failed'),
  count_sent: { plus: ['delivered', 'inband_bounce'] },
  count_accepted: { plus: ['delivered'], minus: ['outofband_bounce'] },
  count_delivered: one('delivered'),
  count_delivered_first: one('delivered_first'),
  count_delivered_subsequent: { plus: ['delivered'], minus: ['delivered_first'] },
  total_delivery_time_first: one('delivery_time_first'),
  total_delivery_time_subsequent: one('delivery_time_subsequent'),
  total_msg_volume: one('msg_volume'),
  count_bounce: { plus: ['inband_bounce', 'outofband_bounce'] },
  count_inband_bounce: one('inband_bounce'),
  count_outofband_bounce: one('outofband_bounce'),
  count_hard_bounce: one('hard_bounce'),
  count_soft_bounce: one('soft_bounce'),
  count_block_bounce: one('block_bounce'),
  count_admin_bounce: one('admin_bounce'),
  count_undetermined_bounce: one('undetermined_bounce'),
  count_delayed: one('delayed'),
  count_delayed_first: one('delayed_first'),
  count_rendered: one('rendered'),
  count_initial_rendered: one('initial_rendered'),
  count_unique_rendered: one('unique_rendered'),
  count_unique_initial_rendered: one('unique_initial_rendered'),
  count_unique_confirmed_opened: one('unique_confirmed_opened'),
  count_clicked: one('clicked'),
  count_unique_clicked: one('unique_clicked'),
};

/** The value of a metric over a row of summed counters. */
export function metricValue(metric: string, row: readonly number[]): number {
  const formula = METRICS[metric];
  if (!formula) throw new Error(`unknown metric ${metric}`);
  let value = 0;
  for (const counter of formula.plus) value += row[C[counter]] ?? 0;
  for (const counter of formula.minus ?? []) value -= row[C[counter]] ?? 0;
  return Math.max(0, value);
}

/** The counters a set of metrics reads (a query sums only these). */
export function countersOf(metrics: Iterable<string>): number[] {
  const out = new Set<number>();
  for (const metric of metrics) {
    const formula = METRICS[metric];
    if (!formula) continue;
    for (const counter of [...formula.plus, ...(formula.minus ?? [])]) out.add(C[counter]);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Metrics SparkPost documents that Sluice cannot count, with the reason given in the 422 that
 * names them (nothing is answered with a made-up zero).
 */
export const UNSUPPORTED_METRICS: Record<string, string> = {
  count_nonprefetched_rendered: 'Sluice does not tell prefetched opens (Apple Mail Privacy Protection) apart',
  count_nonprefetched_initial_rendered:
    'Sluice does not tell prefetched opens (Apple Mail Privacy Protection) apart',
  count_nonprefetched_unique_rendered:
    'Sluice does not tell prefetched opens (Apple Mail Privacy Protection) apart',
  count_nonprefetched_unique_initial_rendered:
    'Sluice does not tell prefetched opens (Apple Mail Privacy Protection) apart',
  count_nonprefetched_unique_confirmed_opened:
    'Sluice does not tell prefetched opens (Apple Mail Privacy Protection) apart',
  count_spam_complaint: 'Sluice processes no feedback-loop (spam complaint) reports',
  count_unsubscribe: 'Sluice records no unsubscribe events',
  count_inbox_panel:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_spam_panel: 'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_inbox_seed: 'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_spam_seed: 'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_inbox_seed_private:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_spam_seed_private:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_inbox_seed_virtual:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_spam_seed_virtual:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_moved_to_inbox:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
  count_moved_to_spam:
    'a SparkPost Deliverability Add-On metric (panel and seed data) Sluice has no source for',
};

/** The metrics of the aggregate endpoints (summary, group-by), as SparkPost lists them. */
export const AGGREGATE_METRICS = Object.keys(METRICS).filter(
  (m) => m !== 'count_initial_rendered' && m !== 'count_unique_initial_rendered',
);

/** Time-series also offers the initial (top-of-message pixel) renders. */
export const TIME_SERIES_METRICS = Object.keys(METRICS);

/** The bounce-reason and bounce-classification endpoints' metrics. */
export const BOUNCE_REASON_METRICS = [
  'count_bounce',
  'count_inband_bounce',
  'count_outofband_bounce',
  'count_admin_bounce',
] as const;

/** The link-name endpoint's metrics: messages that clicked the link, and every click on it. */
export const LINK_METRICS = ['count_clicked', 'count_raw_clicked'] as const;

// ---- bounce classes ------------------------------------------------------------------------

export type BounceCategory = 'Undetermined' | 'Hard' | 'Soft' | 'Block' | 'Admin';

/**
 * SparkPost's category ids: its documentation shows Undetermined 0 and Hard 1; Soft, Block and
 * Admin follow in the order of its bounce classification table (2, 3, 4).
 */
export const BOUNCE_CATEGORY_IDS: Record<BounceCategory, number> = {
  Undetermined: 0,
  Hard: 1,
  Soft: 2,
  Block: 3,
  Admin: 4,
};

export interface BounceClassInfo {
  name: string;
  description: string;
  category: BounceCategory;
}

/** SparkPost's bounce classification codes (support.sparkpost.com, "Bounce Classification Codes"). */
export const BOUNCE_CLASS_INFO: Record<number, BounceClassInfo> = {
  1: {
    name: 'Undetermined',
    description: 'The response text could not be identified',
    category: 'Undetermined',
  },
  10: { name: 'Invalid Recipient', description: 'The recipient is invalid', category: 'Hard' },
  20: { name: 'Soft Bounce', description: 'The message soft bounced', category: 'Soft' },
  21: { name: 'DNS Failure', description: 'The message bounced due to a DNS failure', category: 'Soft' },
  22: {
    name: 'Mailbox Full',
    description: 'The message bounced due to the remote mailbox being over quota',
    category: 'Soft',
  },
  23: {
    name: 'Too Large',
    description: 'The message bounced because it was too large for the recipient',
    category: 'Soft',
  },
  24: { name: 'Timeout', description: 'The message timed out', category: 'Soft' },
  25: {
    name: 'Admin Failure',
    description: "The message was failed by the MTA's configured policies",
    category: 'Admin',
  },
  26: {
    name: 'Smart Send Suppression',
    description: 'The message was suppressed by Smart Send policy',
    category: 'Admin',
  },
  30: {
    name: 'Generic Bounce: No RCPT',
    description: 'No recipient could be determined for the message',
    category: 'Hard',
  },
  40: { name: 'Generic Bounce', description: 'The message failed for unspecified reasons', category: 'Soft' },
  50: { name: 'Mail Block', description: 'The message was blocked by the receiver', category: 'Block' },
  51: {
    name: 'Spam Block',
    description: 'The message was blocked by the receiver as coming from a known spam source',
    category: 'Block',
  },
  52: {
    name: 'Spam Content',
    description: 'The message was blocked by the receiver as spam',
    category: 'Block',
  },
  53: {
    name: 'Prohibited Attachment',
    description: 'The message was blocked by the receiver because it contained an attachment',
    category: 'Block',
  },
  54: {
    name: 'Relaying Denied',
    description: 'The message was blocked by the receiver because relaying is not allowed',
    category: 'Block',
  },
  60: { name: 'Auto-Reply', description: 'The message is an auto-reply/vacation mail', category: 'Soft' },
  70: {
    name: 'Transient Failure',
    description: 'Message transmission has been temporarily delayed',
    category: 'Soft',
  },
  80: { name: 'Subscribe', description: 'The message is a subscribe request', category: 'Admin' },
  90: { name: 'Unsubscribe', description: 'The message is an unsubscribe request', category: 'Hard' },
  100: {
    name: 'Challenge-Response',
    description: 'The message is a challenge-response probe',
    category: 'Soft',
  },
};

/** A bounce event's class as a known code; anything absent or unknown is 1 (undetermined). */
export function bounceClassOf(value: unknown): number {
  const n = typeof value === 'number' ? value : Number.parseInt(String(value ?? ''), 10);
  return Number.isInteger(n) && BOUNCE_CLASS_INFO[n] ? n : 1;
}

export function bounceClassInfo(code: number): BounceClassInfo {
  return BOUNCE_CLASS_INFO[code] ?? BOUNCE_CLASS_INFO[1]!;
}

/** The counter a bounce of this class adds to, besides in-band or out-of-band. */
export function bounceCategoryCounter(code: number): Counter {
  switch (bounceClassInfo(code).category) {
    case 'Hard':
      return 'hard_bounce';
    case 'Block':
      return 'block_bounce';
    case 'Admin':
      return 'admin_bounce';
    case 'Soft':
      return 'soft_bounce';
    default:
      return 'undetermined_bounce';
  }
}

// ---- rejections -----------------------------------------------------------------------------

/** SparkPost's rejection categories (1 and 2 as its documentation shows; 3 is Sluice's). */
export const REJECTION_TYPES: Record<number, string> = {
  1: 'Policy Rejection',
  2: 'Generation Rejection',
  3: 'Generation Failure',
};
