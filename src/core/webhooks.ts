/**
 * Webhook rules, shared by the dispatcher and the API: which events a webhook receives, the
 * SparkPost batch body (`[{"msys":{"message_event"|"track_event"|"gen_event":{…}}}]`), our HMAC signature
 * (so receivers can tell a batch came from this Sluice), and when a refused batch is tried again
 * (the schedule's waits, the last repeating, until max_age after the batch was made).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { WebhookRecord } from '../store/types.js';
import type { SluiceEvent } from './events.js';

export const SIGNATURE_HEADER = 'x-sluice-signature';
export const BATCH_HEADER = 'x-messagesystems-batch-id';

const TRACK_EVENTS = new Set(['open', 'initial_open', 'click']);
const GENERATION_EVENTS = new Set(['generation_failure', 'generation_rejection']);

/** SparkPost's category of an event in a webhook batch. */
function category(type: string): string {
  if (TRACK_EVENTS.has(type)) return 'track_event';
  return GENERATION_EVENTS.has(type) ? 'gen_event' : 'message_event';
}

export function wants(webhook: WebhookRecord, event: SluiceEvent): boolean {
  return webhook.active && (webhook.events.length === 0 || webhook.events.includes(event.type));
}

/** The body of one batch, as SparkPost sends it. */
export function batchPayload(events: readonly SluiceEvent[]): string {
  return JSON.stringify(
    events.map((event) => ({
      msys: { [category(event.type)]: event },
    })),
  );
}

export function newBatchId(): string {
  return randomBytes(16).toString('hex');
}

export function newWebhookSecret(): string {
  return randomBytes(32).toString('hex');
}

/**
 * `t=UNIX,v1=HEX`: HMAC-SHA256 over "UNIX.BODY" with the webhook's secret. The timestamp lets a
 * receiver refuse replays older than it tolerates; the body is signed byte for byte.
 */
export function signBatch(secret: string, body: string, now = Date.now()): string {
  const t = Math.floor(now / 1000);
  const mac = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${mac}`;
}

/** When to try a refused batch next, or null to give up (past maxAge from its creation). */
export function nextAttempt(
  created: number,
  attempts: number,
  schedule: readonly number[],
  maxAgeMs: number,
  now = Date.now(),
): number | null {
  const wait = schedule[Math.min(attempts - 1, schedule.length - 1)]!;
  const due = now + wait;
  return due - created > maxAgeMs ? null : due;
}

/** A sample batch for a new webhook (SparkPost sends one when a webhook is created). */
export function testBatch(now = new Date()): string {
  return batchPayload([
    {
      type: 'delivery',
      event_id: '0',
      timestamp: now.toISOString(),
      message_id: '00000000000000000000',
      rcpt_to: 'recipient@example.com',
      campaign_id: 'webhook-test',
      raw_reason: 'test batch sent when the webhook was created',
    },
  ]);
}
