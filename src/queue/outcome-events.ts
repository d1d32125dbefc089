/**
 * What the queue manager records about an attempt, kept apart from the scheduling: the event for
 * one recipient's result (delivery, delay, bounce, or the expiry bounce of class 24), and the retry
 * delay with jitter. The events are written through the group commit (store/event-group-commit.ts).
 */
import {
  bounceEvent,
  delayEvent,
  deliveryEvent,
  type MessageFacts,
  type SluiceEvent,
} from '../core/events.js';
import type { RcptResult } from '../delivery/deliver.js';

export type OutcomeKind = 'delivered' | 'bounce' | 'defer' | 'expired';

export function outcomeEvent(
  kind: OutcomeKind,
  facts: MessageFacts,
  attempt: { attempts: number; trackingNote?: string | undefined },
  result: RcptResult,
  now: Date,
  classify: (enhanced: string | undefined, text: string) => number,
): SluiceEvent {
  const base = { mx_host: result.mxHost, num_retries: attempt.attempts };
  if (kind === 'delivered') {
    const event = deliveryEvent(facts, result.rcpt, base, now);
    // Signed or unparseable content is delivered untracked; whoever reads events learns why.
    if (attempt.trackingNote) event.tracking_skipped = attempt.trackingNote;
    // Sandbox mail reached the sandbox relay, or (mx_hostname "sandbox") nobody: say so.
    if (facts.msys.options?.sandbox === true) event.sandbox = true;
    return event;
  }
  const failure = {
    ...base,
    error_code: String(result.code || (kind === 'defer' ? 451 : 550)),
    raw_reason: result.text,
    bounce_class: String(classify(result.enhanced, result.text)),
  };
  if (kind === 'defer') return delayEvent(facts, result.rcpt, failure, now);
  if (kind === 'expired') {
    const reason = `554 5.4.7 Delivery time expired after ${attempt.attempts + 1} attempts; last: ${result.text}`;
    return bounceEvent(facts, result.rcpt, { ...failure, raw_reason: reason, bounce_class: '24' }, now);
  }
  return bounceEvent(facts, result.rcpt, failure, now);
}

/** The wait before attempt `attempts + 1`: the schedule's entry (the last repeats), ± jitter. */
export function retryDelay(schedule: readonly number[], jitter: number, attempts: number): number {
  const base = schedule[Math.min(attempts, schedule.length - 1)]!;
  return Math.round(base * (1 - jitter + Math.random() * 2 * jitter));
}
