/**
 * The JSON the operator console's endpoints answer, and the page reads: one declaration for both
 * sides (the page imports these types; the server's handlers are checked against them). Types
 * only, no imports, so the page's build can include this file as it is. Errors are SparkPost's
 * shape, `{"errors":[{"message","code","description"}]}`, as everywhere on the HTTP listener.
 */

export type ConsoleAccess = 'view' | 'manage';

export interface SessionView {
  key_id: string;
  label: string;
  access: ConsoleAccess;
  /** Sent back in the X-Sluice-CSRF header with every action. */
  csrf: string;
  /** ISO time the session ends (it is not extended by use). */
  expires: string;
  /** Whether this build serves the metrics-based views (overview counts, bounces, engagement). */
  metrics: boolean;
}

export type DestinationStateName = 'active' | 'throttled' | 'held' | 'suspended';

export interface DestinationView {
  domain: string;
  hosts: string[] | null;
  port: number | null;
  messages: number;
  recipients: number;
  held: number;
  running: number;
  oldest: string;
  state: DestinationStateName;
  failures: number;
  next_attempt: string | null;
  last_reply: {
    status: string | null;
    code: number | null;
    text: string;
    mx_host: string | null;
    at: string | null;
  } | null;
}

export interface QueueView {
  generated_at: string;
  /** Messages by state: ready, deferred, running, held. */
  depth: Record<string, number>;
  destinations: DestinationView[];
  /** Destinations in all (the list holds the biggest ones). */
  total: number;
}

export interface QueuedMessageView {
  id: string;
  mail_from: string;
  size: number;
  arrival: string;
  held: boolean;
  recipients: Array<{ rcpt: string; domain: string; state: string; attempts: number; due: string | null }>;
  last_error: string | null;
}

export interface QueueMessagesView {
  messages: QueuedMessageView[];
  total: number;
}

export interface MessageView {
  message: QueuedMessageView;
  /** null: the spool file could not be read (delivered meanwhile). */
  headers: { fields: Array<{ name: string; value: string }>; truncated: boolean } | null;
}

export type QueueOperation = 'hold' | 'release' | 'flush' | 'bounce';

export interface QueueActionResult {
  operation: QueueOperation;
  /** Messages the operation applied to (flush: deferred jobs made due). */
  done: number;
  failed: Array<{ id: string; error: string }>;
}

/** An event as stored: SparkPost's message event fields. */
export interface TraceEvent {
  type: string;
  event_id: string;
  timestamp: string;
  message_id?: string;
  rcpt_to?: string;
  [field: string]: unknown;
}

export interface TraceView {
  query: { message_id?: string; recipient?: string; campaign?: string };
  /** Oldest first. */
  events: TraceEvent[];
  /** More events matched than were returned (the newest are kept). */
  truncated: boolean;
  /** Messages of the query still queued here (searching by message id or recipient). */
  queued: QueuedMessageView[];
}

export interface SuppressionView {
  recipient: string;
  type: 'transactional' | 'non_transactional';
  source: string;
  description: string;
  created: string;
  updated: string;
}

export interface SuppressionsView {
  results: SuppressionView[];
  /** Cursor of the next page, null on the last. */
  next: string | null;
}

export interface KeyView {
  id: string;
  label: string;
  grants: string[];
  prefix: string;
  valid_ips: string[];
  created_at: string;
  last_used_at: string | null;
}

export interface KeysView {
  keys: KeyView[];
  /** Every grant a key may hold, for the create form. */
  grants: string[];
}

export interface CreatedKeyView {
  key: KeyView;
  /** Shown once: only its hash is stored. */
  secret: string;
}

export interface WebhookView {
  id: string;
  name: string;
  target: string;
  events: string[];
  active: boolean;
  created: string;
  /** Batches stored and not yet accepted by the target. */
  backlog: number;
  /** This process's last attempt; null when it has made none since it started. */
  last_batch: { id: string; at: string; attempts: number; ok: boolean; detail: string } | null;
  /** Attempts in a row the target did not accept. */
  failures: number;
}

export interface WebhooksView {
  webhooks: WebhookView[];
}

/**
 * The metrics-based views. Their endpoints answer 501 until the Metrics API's rollups back them
 * (see metrics-routes.ts); these shapes are what the page renders once they do.
 */
export interface DeliveryCounts {
  injected: number;
  delivered: number;
  deferred: number;
  bounced: number;
  opened: number;
  clicked: number;
}

export interface OverviewView {
  generated_at: string;
  last_hour: DeliveryCounts;
  last_day: DeliveryCounts;
  /** delivered / (delivered + bounced), 0..1, over the last day; null without either. */
  delivery_rate: number | null;
  /** bounced / injected, 0..1, over the last day; null without injections. */
  bounce_rate: number | null;
  series: { precision: 'minute' | 'hour'; points: Array<{ ts: string } & DeliveryCounts> };
}

export interface BouncesView {
  from: string;
  to: string;
  precision: 'minute' | 'hour' | 'day';
  /** By bounce class and reason, per domain, over the period. */
  rows: Array<{
    domain: string;
    bounce_class: string;
    reason: string;
    bounces: number;
    delays: number;
  }>;
  /** Bounces and delays per time step, per bounce class. */
  series: Array<{ ts: string; bounce_class: string; bounces: number; delays: number }>;
}

export interface EngagementView {
  from: string;
  to: string;
  campaigns: Array<{
    campaign_id: string;
    sent: number;
    unique_opens: number;
    unique_clicks: number;
    /** By data-msys-linkname, most clicked first. */
    top_links: Array<{ link_name: string; clicks: number }>;
  }>;
}
