/**
 * Events into rollup deltas: the one place that decides what an event adds to the Metrics API's
 * counters. A batch of events (whatever a store writes in one transaction or one Redis script) is
 * aggregated in memory first, so a store adds one delta per distinct row, not one per event.
 *
 * Rows: per minute × dimension combination (recipient domain, campaign, sending domain (the
 * From: domain), template, subaccount, IP pool), plus a TOTAL row per minute that sums every
 * combination, which unfiltered queries read instead of every combination. Reason rows (bounce,
 * delay and rejection reasons, clicked link names) are kept per minute × combination × class ×
 * normalised reason text. Hour and day rows come from these by compaction (coarse.ts).
 *
 * "Unique" counts (count_unique_rendered, _initial_rendered, _confirmed_opened, _clicked, and a
 * link's count_clicked) count a message (message id + recipient, SparkPost's "message") once:
 * in the bucket of its first such event. Which event is first is only known with the store's
 * memory of what it has counted, so they leave here as FirstCandidates that each store resolves
 * in the same transaction (or script) that adds the rest of the batch.
 */
import type { SluiceEvent } from '../events.js';
import { bounceCategoryCounter, bounceClassOf, C, COUNTER_COUNT, type Counter } from './definitions.js';

/** Rollup resolutions and their bucket size in minutes. */
export const RESOLUTIONS = { minute: 1, hour: 60, day: 1440 } as const;
export type Resolution = keyof typeof RESOLUTIONS;
export const RESOLUTION_LIST: readonly Resolution[] = ['minute', 'hour', 'day'];

/** A combination of the dimensions the API filters and groups by. */
export interface MetricsDims {
  domain: string;
  campaign: string;
  sending_domain: string;
  template: string;
  subaccount: number;
  ip_pool: string;
}

/** The dimensions key of TOTAL rows (the sum over every combination). */
export const TOTAL = '';

const SEP = '\x1f';

/** A combination as one string (the row key in both stores). */
export function dimsKey(d: MetricsDims): string {
  return [d.domain, d.campaign, d.sending_domain, d.template, String(d.subaccount), d.ip_pool].join(SEP);
}

/** A combination from its key; a projection's wild dimensions read as '' (and subaccount 0). */
export function parseDimsKey(key: string): MetricsDims {
  const [domain = '', campaign = '', sending_domain = '', template = '', sub = '0', ip_pool = ''] = key
    .split(SEP)
    .map((v) => (v === WILD ? '' : v));
  return { domain, campaign, sending_domain, template, subaccount: Number(sub) || 0, ip_pool };
}

/** The dimensions, in key order: a projection keeps one of them and makes the others WILD. */
export const DIMENSIONS = [
  'domain',
  'campaign',
  'sending_domain',
  'template',
  'subaccount',
  'ip_pool',
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** Stands for "every value" in a projection's key (control characters never reach a key otherwise). */
export const WILD = '\x1e';

/** The key of a combination's projection on one dimension. */
export function projectionKey(dims: string, keep: Dimension): string {
  const at = DIMENSIONS.indexOf(keep);
  return dims
    .split(SEP)
    .map((v, i) => (i === at ? v : WILD))
    .join(SEP);
}

/** What a key names: a full combination, TOTAL, or a projection on one dimension. */
export function keyKind(key: string): 'full' | 'total' | Dimension {
  if (key === TOTAL) return 'total';
  const parts = key.split(SEP);
  const kept = parts.flatMap((v, i) => (v === WILD ? [] : [i]));
  if (kept.length === parts.length) return 'full';
  return DIMENSIONS[kept[0] ?? 0]!;
}

export const REASON_KINDS = { bounce: 1, delay: 2, rejection: 3, link: 4 } as const;
export type ReasonKind = keyof typeof REASON_KINDS;

/** What a first engagement of each kind adds (bits of a message's "already counted" flags). */
export const FIRST_BITS = { rendered: 1, initial_rendered: 2, confirmed_opened: 4, clicked: 8 } as const;
const FIRST_COUNTERS: ReadonlyArray<[number, number]> = [
  [FIRST_BITS.rendered, C.unique_rendered],
  [FIRST_BITS.initial_rendered, C.unique_initial_rendered],
  [FIRST_BITS.confirmed_opened, C.unique_confirmed_opened],
  [FIRST_BITS.clicked, C.unique_clicked],
];

/** The counters that newly set flag bits add one to. */
export function firstCounters(newBits: number): number[] {
  const out: number[] = [];
  for (const [bit, counter] of FIRST_COUNTERS) if (newBits & bit) out.push(counter);
  return out;
}

/** An engagement that counts as unique if the store has not counted its message (and link) yet. */
export interface FirstCandidate {
  minute: number;
  dims: string;
  message: string;
  rcpt: string;
  bits: number;
  /** The clicked link's name ('' for opens): a message counts once per link name too. */
  link: string;
}

/** A minute's counters of one combination (or of TOTAL). */
export interface RowDelta {
  /** Minutes since the epoch. */
  minute: number;
  dims: string;
  counts: number[];
}

export interface ReasonDelta {
  kind: ReasonKind;
  minute: number;
  dims: string;
  /** Bounce class, rejection category, or 0. */
  cls: number;
  reason: string;
  /** bounce: in-band, out-of-band; delay: delayed, delayed first; rejection: rejected, 0; link: clicks, unique clicks. */
  n: [number, number];
}

/**
 * A batch's deltas, per minute. The stores write them as minute rows; hour and day rows (and the
 * single-dimension projections) are folded from minute rows by compaction (coarse.ts), or at
 * once for a minute older than what compaction has already folded (a late event).
 */
export interface RollupBatch {
  rows: Map<string, RowDelta>;
  reasons: Map<string, ReasonDelta>;
  /** Each combination seen, with the latest minute it was seen in. */
  dims: Map<string, number>;
  firsts: FirstCandidate[];
}

export function emptyBatch(): RollupBatch {
  return { rows: new Map(), reasons: new Map(), dims: new Map(), firsts: [] };
}

/** Adds `amount` to one counter of a minute's combination and of that minute's TOTAL. */
export function addCount(
  batch: RollupBatch,
  minute: number,
  dims: string,
  counter: number,
  amount: number,
): void {
  for (const d of dims === TOTAL ? [TOTAL] : [dims, TOTAL]) {
    const key = `${minute}\t${d}`;
    let row = batch.rows.get(key);
    if (!row) {
      row = { minute, dims: d, counts: new Array<number>(COUNTER_COUNT).fill(0) };
      batch.rows.set(key, row);
    }
    row.counts[counter]! += amount;
  }
}

/** Adds to a reason row of a minute's combination. */
export function addReason(
  batch: RollupBatch,
  kind: ReasonKind,
  minute: number,
  dims: string,
  cls: number,
  reason: string,
  n0: number,
  n1: number,
): void {
  const key = `${kind}\t${minute}\t${dims}\t${cls}\t${reason}`;
  let row = batch.reasons.get(key);
  if (!row) {
    row = { kind, minute, dims, cls, reason, n: [0, 0] };
    batch.reasons.set(key, row);
  }
  row.n[0] += n0;
  row.n[1] += n1;
}

/** Aggregates a batch of events; events without a valid timestamp are left out. */
export function aggregateEvents(events: Iterable<SluiceEvent>): RollupBatch {
  const batch = emptyBatch();
  for (const event of events) {
    const ms = Date.parse(event.timestamp);
    if (!Number.isFinite(ms)) continue;
    const minute = Math.floor(ms / 60_000);
    const dims = dimsKey(dimsOf(event));
    const at = `${minute}\t${dims}`;
    let cell = batch.rows.get(at);
    if (!cell) {
      cell = { minute, dims, counts: new Array<number>(COUNTER_COUNT).fill(0) };
      batch.rows.set(at, cell);
    }
    count(event, cell.counts, (kind, cls, reason, n0, n1) =>
      addReason(batch, kind, minute, dims, cls, reason, n0, n1),
    );
    const bits = firstBitsOf(event.type);
    if (bits !== 0 && event.message_id && event.rcpt_to)
      batch.firsts.push({
        minute,
        dims,
        message: event.message_id,
        rcpt: event.rcpt_to,
        bits,
        link: event.type === 'click' ? linkNameOf(event) : '',
      });
    if ((batch.dims.get(dims) ?? -1) < minute) batch.dims.set(dims, minute);
  }
  // Each minute's TOTAL row: the sum of its combinations.
  for (const cell of [...batch.rows.values()])
    for (let i = 0; i < COUNTER_COUNT; i++) {
      const n = cell.counts[i]!;
      if (n === 0) continue;
      const key = `${cell.minute}\t${TOTAL}`;
      let total = batch.rows.get(key);
      if (!total) {
        total = { minute: cell.minute, dims: TOTAL, counts: new Array<number>(COUNTER_COUNT).fill(0) };
        batch.rows.set(key, total);
      }
      total.counts[i]! += n;
    }
  return batch;
}

type ReasonSink = (kind: ReasonKind, cls: number, reason: string, n0: number, n1: number) => void;

/** What one event adds to its row's counters and to reason rows. */
function count(event: SluiceEvent, counts: number[], reason: ReasonSink): void {
  const add = (counter: Counter, amount = 1) => {
    counts[C[counter]]! += amount;
  };
  const retries = integerOf(event['num_retries']);
  switch (event.type as string) {
    case 'injection':
      add('injected');
      break;
    case 'delivery': {
      add('delivered');
      add('msg_volume', integerOf(event['msg_size']));
      const took = integerOf(event['queue_time']);
      if (retries === 0) {
        add('delivered_first');
        add('delivery_time_first', took);
      } else add('delivery_time_subsequent', took);
      if (retries === 1) add('delivered_second');
      break;
    }
    case 'bounce':
    case 'out_of_band': {
      const inband = event.type === 'bounce';
      const cls = bounceClassOf(event['bounce_class']);
      add(inband ? 'inband_bounce' : 'outofband_bounce');
      add(bounceCategoryCounter(cls));
      reason('bounce', cls, reasonText(event['raw_reason']), inband ? 1 : 0, inband ? 0 : 1);
      break;
    }
    case 'delay':
      add('delayed');
      if (retries === 0) add('delayed_first');
      reason('delay', 0, reasonText(event['raw_reason']), 1, retries === 0 ? 1 : 0);
      break;
    case 'policy_rejection':
      add('policy_rejection');
      reason('rejection', 1, reasonText(event['raw_reason']), 1, 0);
      break;
    case 'generation_rejection':
      add('generation_rejection');
      reason('rejection', 2, reasonText(event['raw_reason']), 1, 0);
      break;
    case 'generation_failure':
      add('generation_failed');
      reason('rejection', 3, reasonText(event['raw_reason']), 1, 0);
      break;
    case 'open':
      add('rendered');
      break;
    case 'initial_open':
      add('initial_rendered');
      break;
    case 'click':
      add('clicked');
      // Unique clicks per link are resolved with the store (FirstCandidate); raw clicks count here.
      reason('link', 0, linkNameOf(event), 1, 0);
      break;
  }
}

function firstBitsOf(type: string): number {
  if (type === 'open') return FIRST_BITS.rendered | FIRST_BITS.confirmed_opened;
  if (type === 'initial_open') return FIRST_BITS.initial_rendered | FIRST_BITS.confirmed_opened;
  if (type === 'click') return FIRST_BITS.clicked | FIRST_BITS.confirmed_opened;
  return 0;
}

/** The dimensions of an event (engagement events carry those copied from their injection). */
export function dimsOf(event: SluiceEvent): MetricsDims {
  const rcpt = event.rcpt_to ?? '';
  const from = stringOf(event['friendly_from']) || stringOf(event['msg_from']);
  const sub = integerOf(event['subaccount_id']);
  return {
    domain: clean((stringOf(event['routing_domain']) || rcpt.slice(rcpt.lastIndexOf('@') + 1)).toLowerCase()),
    campaign: clean(stringOf(event['campaign_id'])),
    sending_domain: clean(from.includes('@') ? from.slice(from.lastIndexOf('@') + 1).toLowerCase() : ''),
    template: clean(stringOf(event['template_id'])),
    subaccount: sub,
    ip_pool: clean(stringOf(event['ip_pool'])),
  };
}

const MAX_TEXT = 256;

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\x00-\x1f\x7f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
const CONTROLS = /[\x00-\x1f\x7f]/g;

/** Control characters (the key separators among them) out, length bounded. */
function clean(value: string): string {
  // Most values are clean: testing is cheaper than replacing, once per field of every event.
  const safe = CONTROL.test(value) ? value.replace(CONTROLS, ' ') : value;
  return safe.length > MAX_TEXT ? safe.slice(0, MAX_TEXT) : safe;
}

/**
 * A reason as it is grouped: the raw reason with what differs per recipient or per attempt taken
 * out, so one cause is one row: each address becomes `…@its-domain`, IPv4 addresses `[ip]`, and
 * tokens of 8 or more letters and digits with a digit among them (queue ids, session ids) `[id]`;
 * whitespace is collapsed and the result cut to 256 characters.
 */
export function reasonText(raw: unknown): string {
  const text = stringOf(raw)
    .replace(/[^\s<>"'()[\]]+@([A-Za-z0-9.-]+)/g, '…@$1')
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}\b/g, '[ip]')
    .replace(/\b(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{8,}\b/g, '[id]')
    .replace(/\s+/g, ' ')
    .trim();
  return clean(text);
}

/** A click's link name (data-msys-linkname), else its URL without query and fragment. */
export function linkNameOf(event: SluiceEvent): string {
  const name = stringOf(event['target_link_name']);
  if (name) return clean(name);
  const url = stringOf(event['target_link_url']);
  return clean(url.replace(/[?#].*$/s, ''));
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function integerOf(value: unknown): number {
  const n = typeof value === 'number' ? value : Number.parseInt(String(value ?? ''), 10);
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}
