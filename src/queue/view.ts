/**
 * What the queue tools show of a queue, whoever reads it: the running server (queue/control.ts)
 * or the spool read directly while no server runs (queue/offline-view.ts). One shape for both, so
 * `sluice queue list|summary|show` print the same columns either way; and the last deferral of a
 * message as the event store remembers it (a server knows it in memory only from its own attempts).
 */
import type { EventStore } from '../store/types.js';

export interface RecipientView {
  rcpt: string;
  domain: string;
  /** ready, deferred, running, held; `queued` when read from the spool (no server: not scheduled). */
  state: string;
  /** Attempts made so far (as far as known). */
  attempts: number;
  /** Next attempt, for a deferred recipient of a running server. */
  due: string | null;
  /** The reply that deferred the last attempt. */
  last_error: string | null;
}

export interface QueuedMessage {
  /** The queue id (the spool's). */
  id: string;
  /** The message id (its 250 reply's, its events'): equal to id unless an upstream milter named it. */
  message_id: string;
  mail_from: string;
  size: number;
  arrival: string;
  held: boolean;
  recipients: RecipientView[];
  /** The most recent deferral reason of any recipient. */
  last_error: string | null;
}

export interface DomainSummary {
  domain: string;
  messages: number;
  recipients: number;
  held: number;
  oldest: string;
  last_error: string | null;
}

/** Where a queue tool's answer came from: a running server, or the spool files read directly. */
export type QueueSource = 'server' | 'spool';

/** Per destination domain: messages, recipients, held, oldest arrival, last error of the newest deferred. */
export function summarise(
  messages: Iterable<{
    arrival: string;
    held: boolean;
    /** Each recipient, or (count) several sharing a domain and an error. */
    recipients: Iterable<Pick<RecipientView, 'domain' | 'last_error'> & { count?: number }>;
  }>,
): DomainSummary[] {
  const byDomain = new Map<string, DomainSummary & { errorAt: string }>();
  for (const message of messages) {
    const seen = new Set<string>();
    for (const rcpt of message.recipients) {
      let row = byDomain.get(rcpt.domain);
      if (!row) {
        row = {
          domain: rcpt.domain,
          messages: 0,
          recipients: 0,
          held: 0,
          oldest: message.arrival,
          last_error: null,
          errorAt: '',
        };
        byDomain.set(rcpt.domain, row);
      }
      row.recipients += rcpt.count ?? 1;
      if (!seen.has(rcpt.domain)) {
        seen.add(rcpt.domain);
        row.messages++;
        if (message.held) row.held++;
        if (message.arrival < row.oldest) row.oldest = message.arrival;
      }
      if (rcpt.last_error && message.arrival >= row.errorAt) {
        row.last_error = rcpt.last_error;
        row.errorAt = message.arrival;
      }
    }
  }
  return [...byDomain.values()]
    .map(({ errorAt: _errorAt, ...row }) => row)
    .sort((a, b) => b.messages - a.messages || a.domain.localeCompare(b.domain));
}

export interface LastDeferral {
  reason: string;
  /** Attempts made up to and including the one deferred. */
  attempts: number;
}

/**
 * The last `delay` event of each recipient of a message (by its event message id), from the
 * event store; an unreadable store gives none (a listing does not fail for want of reasons).
 */
export async function lastDeferrals(
  events: EventStore,
  messageId: string,
): Promise<Map<string, LastDeferral>> {
  const found = new Map<string, LastDeferral>();
  let delays: Awaited<ReturnType<EventStore['search']>>;
  try {
    delays = await events.search({ messageId, types: ['delay'], limit: 1000 });
  } catch {
    return found;
  }
  for (const event of delays) {
    const rcpt = event.rcpt_to;
    if (!rcpt || found.has(rcpt)) continue; // newest first: the first one is the last deferral
    const retries = Number(event.num_retries);
    found.set(rcpt, {
      reason: String(event.raw_reason ?? ''),
      attempts: Number.isFinite(retries) ? retries + 1 : 1,
    });
  }
  return found;
}

export function newestError(recipients: readonly RecipientView[]): string | null {
  let error: string | null = null;
  for (const rcpt of recipients) if (rcpt.last_error) error = rcpt.last_error;
  return error;
}
