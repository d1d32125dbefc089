/**
 * Store ports: small interfaces by purpose. Core depends on these, never on SQLite or Redis.
 * Adapters: store/embedded (SQLite under data_dir) and store/redis (ioredis, shared by many nodes).
 */

import type { SluiceEvent } from '../core/events.js';
import type { Grant } from '../core/grants.js';
import type { Dimension, MetricsDims, ReasonKind, Resolution, RollupBatch } from '../core/metrics/rollup.js';

export interface ApiKeyRecord {
  id: string;
  label: string;
  grants: Grant[];
  valid_ips: string[];
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  hash: string;
  /** First four characters of the secret, so a person can tell keys apart. */
  prefix: string;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  /** What this key's mail gets when its X-MSYS-API header does not say. */
  defaults: KeyDefaults;
}

/** Per-key message defaults; a missing field falls through to the config. */
export interface KeyDefaults {
  open_tracking?: boolean;
  click_tracking?: boolean;
  transactional?: boolean;
  ip_pool?: string;
}

export interface KeyPatch {
  label?: string;
  grants?: Grant[];
  valid_ips?: string[];
  defaults?: KeyDefaults;
}

export interface KeyStore {
  insert(record: ApiKeyRecord): Promise<void>;
  findByHash(hash: string): Promise<ApiKeyRecord | null>;
  findById(id: string): Promise<ApiKeyRecord | null>;
  list(): Promise<ApiKeyRecord[]>;
  update(id: string, patch: KeyPatch, now: string): Promise<ApiKeyRecord | null>;
  delete(id: string): Promise<boolean>;
  touch(id: string, when: string): Promise<void>;
}

export interface EventFilter {
  types?: string[];
  recipient?: string;
  messageId?: string;
  /** campaign_id, exactly. */
  campaign?: string;
  /** The envelope sender (msg_from), case-insensitive. */
  sender?: string;
  transmissionId?: string;
  /** ISO timestamp; events at or after it. */
  since?: string;
  /** ISO timestamp; events at or before it. */
  until?: string;
  limit?: number;
}

/** The API's event query (SparkPost's GET /events/message): every list is "any of". */
export interface EventPageFilter {
  types?: string[];
  recipients?: string[];
  messageIds?: string[];
  campaigns?: string[];
  /** ISO timestamps bounding `timestamp`, both inclusive. */
  from?: string;
  to?: string;
  limit: number;
  /** Opaque position returned as `next` by the previous page. */
  cursor?: string;
}

export interface EventStore {
  /** Durable once it returns (as durable as the adapter's engine). */
  append(event: SluiceEvent): void;
  /** Several events in one write (one transaction): a door that accepted many messages at once. */
  appendMany(events: readonly SluiceEvent[]): void;
  /** Newest first. */
  search(filter: EventFilter): Promise<SluiceEvent[]>;
  /** Newest first, paged; `next` is null on the last page; `total` counts every match. */
  page(filter: EventPageFilter): Promise<{ events: SluiceEvent[]; next: string | null; total: number }>;
  /** Deletes events with a timestamp before `before` (ISO); returns how many went. Adapters whose
   * engine bounds its own size (a capped Redis stream) may leave it out. */
  prune?(before: string): Promise<number>;
}

/**
 * SparkPost's suppression list: one entry per recipient and type. A transactional message is
 * stopped by a `transactional` entry, any other message by a `non_transactional` one.
 */
export type SuppressionType = 'transactional' | 'non_transactional';

export interface SuppressionRecord {
  /** Lower-cased address. */
  recipient: string;
  type: SuppressionType;
  /** SparkPost's names: 'Bounce Rule', 'Manually Added', 'Spam Complaint', 'Unsubscribe', 'Compliance'. */
  source: string;
  description: string;
  created: string;
  updated: string;
}

export interface SuppressionFilter {
  types?: SuppressionType[];
  sources?: string[];
  /** Substring of the recipient address. */
  search?: string;
  /** ISO timestamps bounding `updated`. */
  from?: string;
  to?: string;
  limit?: number;
  /** Opaque position returned as `next` by the previous page. */
  cursor?: string;
}

/** A paging cursor this store did not write (tampered, truncated, or from another list). */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
  }
}

export interface SuppressionStore {
  /** Inserts or replaces (recipient, type) entries; `created` of an existing entry is kept. */
  put(records: SuppressionRecord[]): Promise<void>;
  /** The entries of one recipient (zero, one or two). */
  get(recipient: string): Promise<SuppressionRecord[]>;
  /** Deletes one recipient's entries, of one type or all; returns how many went. */
  delete(recipient: string, type?: SuppressionType): Promise<number>;
  /** Newest `updated` first, paged. */
  list(filter: SuppressionFilter): Promise<{ records: SuppressionRecord[]; next: string | null }>;
}

/** A webhook: where SparkPost-shaped event batches go. */
export interface WebhookRecord {
  id: string;
  name: string;
  target: string;
  /** Event types sent; empty: every type. */
  events: string[];
  auth_type: 'none' | 'basic';
  auth_credentials: { username: string; password: string } | null;
  /** HMAC-SHA256 key for the signature header; needed in clear to sign, shown once at creation. */
  secret: string;
  active: boolean;
  created: string;
  updated: string;
}

export type WebhookPatch = Partial<
  Pick<WebhookRecord, 'name' | 'target' | 'events' | 'auth_type' | 'auth_credentials' | 'active'>
>;

/** A batch waiting for its webhook's target to accept it (2xx). */
export interface WebhookBatch {
  id: string;
  webhook_id: string;
  /** The exact JSON body, so every retry sends the same bytes under the same batch id. */
  payload: string;
  /** Epoch ms of the batch's creation (retries stop max_age after it) and of its next attempt. */
  created: number;
  due: number;
  attempts: number;
}

/** Webhooks and their pending batches; a batch is stored before its first attempt (at-least-once). */
export interface WebhookStore {
  insert(record: WebhookRecord): Promise<void>;
  get(id: string): Promise<WebhookRecord | null>;
  list(): Promise<WebhookRecord[]>;
  update(id: string, patch: WebhookPatch, now: string): Promise<WebhookRecord | null>;
  /** Deletes the webhook and its pending batches. */
  delete(id: string): Promise<boolean>;
  enqueue(batch: WebhookBatch): Promise<void>;
  /** Batches due at `now`, oldest due first. */
  due(now: number, limit: number): Promise<WebhookBatch[]>;
  reschedule(id: string, attempts: number, due: number): Promise<void>;
  /** Drops a batch (accepted, or given up on). */
  remove(id: string): Promise<void>;
  pending(webhookId: string): Promise<number>;
}

/** A stored template's content: SparkPost's inline fields, or a whole message (email_rfc822). */
export type TemplateContent = Record<string, unknown>;

/** Options a template gives its transmissions, under the transmission's own. */
export interface TemplateOptions {
  open_tracking?: boolean;
  click_tracking?: boolean;
  transactional?: boolean;
}

/** One version (draft or published) of a template. */
export interface TemplateVersion {
  name: string;
  description: string;
  content: TemplateContent;
  options: TemplateOptions;
  updated: string;
}

/** SparkPost's stored template: a draft and a published version, either of which may be absent. */
export interface TemplateRecord {
  id: string;
  draft: TemplateVersion | null;
  published: TemplateVersion | null;
  /** Times the template was published: the `template_version` of the mail it generates. */
  published_version: number;
  last_update_time: string;
  last_use: string | null;
}

/** Templates, read and written whole (they are few and small next to the mail they make). */
export interface TemplateStore {
  /** False when the id is taken. */
  insert(record: TemplateRecord): Promise<boolean>;
  get(id: string): Promise<TemplateRecord | null>;
  /** Replaces an existing record; false when there is none. */
  put(record: TemplateRecord): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Every template, by id. */
  list(): Promise<TemplateRecord[]>;
  /** Records a use (last_use) without rewriting the record: an edit made meanwhile is kept. */
  touch(id: string, when: string): Promise<void>;
}

/** A recipient as SparkPost's recipient object (address, return_path, tags, metadata, substitution_data). */
export type StoredRecipient = Record<string, unknown>;

export interface RecipientListMeta {
  id: string;
  name: string;
  description: string;
  attributes: Record<string, unknown>;
  total_accepted_recipients: number;
  created: string;
  updated: string;
}

/** Stored recipient lists: the description apart from the recipients, which may be many. */
export interface RecipientListStore {
  /** False when the id is taken. */
  insert(meta: RecipientListMeta, recipients: StoredRecipient[]): Promise<boolean>;
  get(id: string): Promise<RecipientListMeta | null>;
  recipients(id: string): Promise<StoredRecipient[] | null>;
  /** Replaces the description, and the recipients when given; false when the list does not exist. */
  update(meta: RecipientListMeta, recipients: StoredRecipient[] | null): Promise<boolean>;
  delete(id: string): Promise<boolean>;
  /** Every list's description, by id. */
  list(): Promise<RecipientListMeta[]>;
}

/** SparkPost's transmission states. */
export type TransmissionState = 'submitted' | 'Generating' | 'Success' | 'Canceled';

/** What a transmission was and became; kept `events.retention` after it finished. */
export interface TransmissionRecord {
  id: string;
  state: TransmissionState;
  name: string;
  description: string;
  campaign_id: string;
  /** The stored template's id, or "inline" (SparkPost's word for inline and email_rfc822 content). */
  template_id: string;
  use_draft_template: boolean;
  recipient_list_id: string | null;
  /** ISO; null when sent at once. */
  start_time: string | null;
  created: string;
  num_rcpts: number;
  num_generated: number;
  num_failed_gen: number;
  /** Recipients handled so far: where a generation that was interrupted resumes. */
  progress: number;
  generation_start_time: string | null;
  generation_end_time: string | null;
  metadata: Record<string, unknown>;
  substitution_data: Record<string, unknown>;
  options: Record<string, unknown>;
}

export type TransmissionPatch = Partial<
  Pick<
    TransmissionRecord,
    | 'state'
    | 'num_rcpts'
    | 'num_generated'
    | 'num_failed_gen'
    | 'progress'
    | 'generation_start_time'
    | 'generation_end_time'
  >
>;

export type CancelOutcome = { ok: true } | { ok: false; state: TransmissionState | null };

/**
 * Transmissions: a record per transmission; for one waiting to be generated (scheduled, or on a
 * stored recipient list) also its request, durable once insert returns. Generation is claimed
 * with a lease, so among nodes sharing the store one generates it, and one whose node died is
 * taken over when the lease runs out.
 */
export interface TransmissionStore {
  /** `request`: what generation needs later (null when the transmission is already generated). */
  insert(record: TransmissionRecord, request: string | null): Promise<void>;
  get(id: string): Promise<TransmissionRecord | null>;
  request(id: string): Promise<string | null>;
  /** Transmissions that were scheduled (start_time set), newest first, filtered. */
  listScheduled(filter: { campaign_id?: string; template_id?: string }): Promise<TransmissionRecord[]>;
  /**
   * Takes up to `limit` transmissions due by `now` (submitted ones whose start time came, and
   * Generating ones whose lease ran out) and leases them until `leaseUntil`; they read Generating.
   */
  claimDue(now: number, leaseUntil: number, limit: number): Promise<TransmissionRecord[]>;
  /** Records progress and extends the lease; a finished state (Success) ends it and drops the request. */
  update(id: string, patch: TransmissionPatch, leaseUntil: number | null): Promise<void>;
  /** Cancels a submitted transmission; anything else is refused with its state (null: unknown). */
  cancel(id: string): Promise<CancelOutcome>;
  /** The transmissions still to generate (submitted or Generating), by id. */
  pending(): Promise<TransmissionRecord[]>;
  /** Ids of the submitted transmissions of a campaign (to cancel them one by one). */
  submittedInCampaign(campaign: string): Promise<string[]>;
  /** Whether a submitted or Generating transmission uses this template or recipient list. */
  inUse(use: { template_id: string } | { recipient_list_id: string }): Promise<boolean>;
  /** Forgets finished transmissions created before `before` (ISO); returns how many went. */
  prune(before: string): Promise<number>;
}

export interface Stores {
  keys: KeyStore;
  events: EventStore;
  suppressions: SuppressionStore;
  webhooks: WebhookStore;
  templates: TemplateStore;
  recipientLists: RecipientListStore;
  transmissions: TransmissionStore;
  /** Rate counters: per process with the embedded backend, shared with the Redis one. */
  counters: CounterStore;
  /** The Metrics API's rollups, written by `events` as it stores events. */
  metrics: MetricsStore;
  close(): Promise<void>;
}

/** A run of whole buckets of one resolution: bucket starts in [from, to), minutes since the epoch. */
export interface MetricsSpan {
  res: Resolution;
  from: number;
  to: number;
}

/**
 * A key the store holds rollups for, and the store's reference to it: a full combination of the
 * dimensions, or (hour and day rows only) its projection on one dimension (`kind` names it; the
 * other dimensions read '').
 */
export interface MetricsDimsEntry {
  ref: string;
  kind: 'full' | Dimension;
  dims: MetricsDims;
}

/** Summed reason rows; `ref` is null when summed over keys. */
export interface ReasonSum {
  ref: string | null;
  cls: number;
  reason: string;
  n: [number, number];
}

/** How sum() groups: per key, per bucket start (as a decimal string), or one sum (''). */
export type MetricsGrouping = 'ref' | 'bucket' | 'none';

/**
 * Which rows a query reads: the listed keys, 'total' (the TOTAL rows: everything, one row per
 * bucket), or (reasons at minute resolution, where there is no TOTAL) null for every row.
 */
export type MetricsRefs = readonly string[] | 'total' | null;

/** What the rollups cover at an instant: the oldest bucket kept per resolution, and the compaction watermark. */
export interface MetricsCoverage {
  oldest: Record<Resolution, number>;
  /** Minutes before this are folded into hour and day rows; from it on, only minute rows hold data. */
  folded: number;
}

/**
 * The Metrics API's rollups (core/metrics/rollup.ts and coarse.ts have the layout). The event
 * stores apply a batch's rollups with the events themselves (same SQLite transaction; on Redis a
 * script as idempotent as the events' own), unless `metrics.rollups` is off. Queries read
 * rollups only, never events: their cost follows the rows in range, not the number of events.
 */
export interface MetricsStore {
  /** Adds a batch's rollups (bulk loading and tests; event stores do this as they append). */
  apply(batch: RollupBatch): Promise<void>;
  /** Every key with rollups not yet pruned (the same array while nothing changed). */
  dimensions(): Promise<readonly MetricsDimsEntry[]>;
  /** Counter sums over the spans; only the `counters` asked for (indexes; default all) are summed. */
  sum(
    spans: readonly MetricsSpan[],
    refs: MetricsRefs,
    grouping: MetricsGrouping,
    counters?: readonly number[],
  ): Promise<Map<string, number[]>>;
  /** Reason rows of one kind over the spans, summed per (class, reason), and per key if byRef. */
  reasons(
    kind: ReasonKind,
    spans: readonly MetricsSpan[],
    refs: MetricsRefs,
    byRef: boolean,
  ): Promise<ReasonSum[]>;
  coverage(now: number): Promise<MetricsCoverage>;
  /** Folds finished hours of minute rows into hour and day rows; resolves with how many hours. */
  compact(now: number): Promise<number>;
  /** Deletes rollups past their retention (never minute rows not yet folded); how many rows went. */
  prune(now: number): Promise<number>;
}

/**
 * One rate counter: at most `limit` units per sliding `windowMs`. `key` names it in the store and
 * must differ between counters of different windows or limits on the same subject.
 */
export interface CounterSpec {
  key: string;
  limit: number;
  windowMs: number;
}

export interface CounterHold {
  counter: CounterSpec;
  amount: number;
  /** Hold `amount` at most once per reservation (a message among its recipients), not per call. */
  oncePerReservation?: boolean;
}

export type ReserveOutcome = { ok: true } | { ok: false; counter: CounterSpec; used: number };

/**
 * Rate counters with two-phase accounting, so a transaction that never completes is never counted:
 * reserve() holds quota under a reservation id, commit() turns the real amounts into usage and drops
 * the holds, release() drops them. Holds of a reservation nobody commits or releases vanish after
 * `ttlMs`. Every call is atomic on its own; async, so a Redis adapter (Lua scripts) fits the same shape.
 */
export interface CounterStore {
  /** All or nothing: adds every hold unless one counter would pass its limit (used + held + amount). */
  reserve(reservation: string, holds: CounterHold[], ttlMs: number, now?: number): Promise<ReserveOutcome>;
  /** Records `usage` (the amounts that really happened) and drops whatever the reservation held. */
  commit(reservation: string, usage: CounterHold[], now?: number): Promise<void>;
  release(reservation: string, now?: number): Promise<void>;
  /** Committed usage in the window ending now, plus current holds (diagnostics and tests). */
  usage(counter: CounterSpec, now?: number): Promise<number>;
}
