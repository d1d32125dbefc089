/**
 * Events, shaped and named as SparkPost's message events so existing webhook and API consumers
 * understand them. Every door and the delivery engine describe what happened through these
 * builders; the Recorder hands them to the EventStore.
 */
import type { EventType } from './event-types.js';
import { newEventId } from './ids.js';
import type { Rejection } from './reply.js';
import type { MsysApi } from './smtpapi.js';

export { EVENT_TYPES, type EventType, isEventType } from './event-types.js';

/** What is known about a message once it is accepted; carried in the spool with the message. */
export interface MessageFacts {
  /** The message's one id: in the 250 reply, every event, log line and queue tool. */
  message_id: string;
  /**
   * The spool's own id when it differs from message_id: a message an upstream Sluice milter named
   * keeps that name and is spooled under a fresh id (Postfix may relay one message in several
   * transactions). Events carry it as `queue_id`; searches by either id find them.
   */
  queue_id?: string;
  transmission_id: string;
  msg_from: string;
  friendly_from: string;
  subject: string;
  msg_size: number;
  injection_time: string;
  /** esmtp: an SMTP door (or the milter); rest: the HTTP API; local: `sluice sendmail`. */
  recv_method: 'esmtp' | 'rest' | 'local';
  /** The API key that authenticated the injection, if any. */
  api_key_id: string | null;
  /** Who submitted it with `sluice sendmail` (the uid as the kernel told it; the name from passwd). */
  local_user?: { uid: number; name: string | null };
  client_ip: string;
  msys: MsysApi;
  /** The stored template the message was generated from, and its published version (or "draft"). */
  template_id?: string | undefined;
  template_version?: string | undefined;
}

export interface SluiceEvent {
  type: EventType;
  event_id: string;
  timestamp: string;
  message_id?: string;
  /** Set when the spool id differs from message_id (MessageFacts.queue_id). */
  queue_id?: string;
  rcpt_to?: string;
  [field: string]: unknown;
}

export interface DeliveryOutcome {
  /** Next hop that answered (host name or address), when one was reached. */
  mx_host?: string | undefined;
  /** Attempts before this one. */
  num_retries: number;
  /** Numeric SMTP reply code, as a string (SparkPost's `error_code`). */
  error_code?: string | undefined;
  raw_reason?: string | undefined;
  bounce_class?: string | undefined;
}

function common(type: EventType, facts: MessageFacts, rcpt: string, now: Date): SluiceEvent {
  const msys = facts.msys;
  return {
    type,
    event_id: newEventId(now.getTime()),
    timestamp: now.toISOString(),
    message_id: facts.message_id,
    ...(facts.queue_id !== undefined ? { queue_id: facts.queue_id } : {}),
    transmission_id: facts.transmission_id,
    rcpt_to: rcpt.toLowerCase(),
    raw_rcpt_to: rcpt,
    msg_from: facts.msg_from,
    friendly_from: facts.friendly_from,
    subject: facts.subject,
    campaign_id: msys.campaign_id ?? '',
    rcpt_meta: msys.metadata ?? {},
    rcpt_tags: msys.tags ?? [],
    transactional: msys.options?.transactional === true ? '1' : '0',
    ip_pool: msys.options?.ip_pool ?? 'default',
    msg_size: String(facts.msg_size),
    injection_time: facts.injection_time,
    recv_method: facts.recv_method,
    routing_domain: rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase(),
    api_key_id: facts.api_key_id,
    ip_address: facts.client_ip,
    ...(facts.template_id !== undefined
      ? { template_id: facts.template_id, template_version: facts.template_version ?? '0' }
      : {}),
    ...(facts.local_user
      ? { local_uid: String(facts.local_user.uid), local_user: facts.local_user.name }
      : {}),
  };
}

export function injectionEvent(facts: MessageFacts, rcpt: string, now = new Date()): SluiceEvent {
  return common('injection', facts, rcpt, now);
}

export function deliveryEvent(facts: MessageFacts, rcpt: string, outcome: DeliveryOutcome, now = new Date()) {
  return withOutcome(common('delivery', facts, rcpt, now), facts, outcome, now);
}

export function delayEvent(facts: MessageFacts, rcpt: string, outcome: DeliveryOutcome, now = new Date()) {
  return withOutcome(common('delay', facts, rcpt, now), facts, outcome, now);
}

export function bounceEvent(facts: MessageFacts, rcpt: string, outcome: DeliveryOutcome, now = new Date()) {
  return withOutcome(common('bounce', facts, rcpt, now), facts, outcome, now);
}

/** A message refused by policy before it was queued (for example a suppressed recipient). */
export function policyRejectionEvent(
  facts: MessageFacts,
  rcpt: string,
  refusal: Rejection,
  now = new Date(),
) {
  return {
    ...common('policy_rejection', facts, rcpt, now),
    raw_reason: refusal.toString(),
    error_code: String(refusal.code),
  };
}

/**
 * A recipient whose message could not be generated: its template failed to render for its data
 * (SparkPost's reason reads "554 5.3.3 [internal] Error while rendering part html: …"). The
 * recipient's substitution data is included, as SparkPost does, to show what the template met.
 */
export function generationFailureEvent(
  facts: MessageFacts,
  rcpt: string,
  reason: string,
  substitutionData: Record<string, unknown>,
  now = new Date(),
): SluiceEvent {
  const text = `554 5.3.3 [internal] ${reason}`;
  return {
    ...common('generation_failure', facts, rcpt, now),
    error_code: '554',
    raw_reason: text,
    reason: text,
    rcpt_subs: substitutionData,
  };
}

/** A recipient not generated for policy: suppressed (SparkPost's REST injection reports this). */
export function generationRejectionEvent(
  facts: MessageFacts,
  rcpt: string,
  refusal: Rejection,
  now = new Date(),
) {
  const text = refusal.toString();
  return {
    ...common('generation_rejection', facts, rcpt, now),
    error_code: String(refusal.code),
    raw_reason: text,
    reason: text,
    bounce_class: '25',
  };
}

function withOutcome(
  event: SluiceEvent,
  facts: MessageFacts,
  outcome: DeliveryOutcome,
  now: Date,
): SluiceEvent {
  event.num_retries = String(outcome.num_retries);
  event.queue_time = String(Math.max(0, now.getTime() - Date.parse(facts.injection_time)));
  if (outcome.mx_host !== undefined) event.mx_hostname = outcome.mx_host;
  if (outcome.error_code !== undefined) event.error_code = outcome.error_code;
  if (outcome.raw_reason !== undefined) event.raw_reason = outcome.raw_reason;
  if (outcome.bounce_class !== undefined) event.bounce_class = outcome.bounce_class;
  return event;
}

/** Who opened or clicked: the HTTP client as the tracking server saw it. */
export interface EngagementClient {
  user_agent: string;
  ip_address: string;
}

/** Fields an engagement event copies from the message's injection event (SparkPost's set). */
const FROM_INJECTION = [
  'transmission_id',
  'raw_rcpt_to',
  'msg_from',
  'friendly_from',
  'subject',
  'campaign_id',
  'rcpt_meta',
  'rcpt_tags',
  'transactional',
  'ip_pool',
  'injection_time',
  'routing_domain',
  'api_key_id',
] as const;

/**
 * An open, initial_open or click. The tracking token names only the message and recipient, so the
 * message's facts come from its injection event; `injection` is null when that event is not in
 * the store (expired from it, or recorded by another node), and the event then carries what the
 * token knows.
 */
export function engagementEvent(
  type: 'open' | 'initial_open' | 'click',
  target: { message_id: string; rcpt_to: string },
  injection: SluiceEvent | null,
  client: EngagementClient,
  link: { target_link_url: string; target_link_name: string } | null = null,
  now = new Date(),
): SluiceEvent {
  const event: SluiceEvent = {
    type,
    event_id: newEventId(now.getTime()),
    timestamp: now.toISOString(),
    message_id: target.message_id,
    rcpt_to: target.rcpt_to.toLowerCase(),
  };
  if (injection) for (const field of FROM_INJECTION) if (field in injection) event[field] = injection[field];
  event.user_agent = client.user_agent;
  event.ip_address = client.ip_address;
  if (type !== 'click') event.initial_pixel = type === 'initial_open';
  if (link) {
    event.target_link_url = link.target_link_url;
    event.target_link_name = link.target_link_name;
  }
  return event;
}
