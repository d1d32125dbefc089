/**
 * The queue by destination (the operator console's queue view): for each recipient domain with
 * queued mail, its MX host set as delivery last routed it, how many messages and recipients wait,
 * the oldest arrival, the last reply and when, and one state:
 *   held       every queued message of the domain is on hold;
 *   throttled  deliveries wait for the domain's or its host set's shaping budget;
 *   active     an attempt is running or due now;
 *   suspended  every pending job waits for its retry time after failed attempts.
 * Read from the queue manager's memory and the Deliverer's notes in one pass; nothing is read
 * from the spool, so it stays cheap with a large queue.
 */
import type { DestinationState } from '../delivery/destination-status.js';
import type { QueueManager } from './manager.js';

export type DestinationStateName = 'active' | 'throttled' | 'held' | 'suspended';

export interface DestinationRow {
  domain: string;
  /** The MX host names (or relay host) its mail last went to; null before the first attempt. */
  hosts: string[] | null;
  port: number | null;
  messages: number;
  recipients: number;
  /** Messages on hold. */
  held: number;
  /** Jobs being attempted now. */
  running: number;
  /** Arrival of its oldest message (ISO). */
  oldest: string;
  state: DestinationStateName;
  /** Attempts in a row that deferred every recipient. */
  failures: number;
  /** When the earliest deferred job is due again (ISO), if one is. */
  next_attempt: string | null;
  last_reply: {
    status: string | null;
    code: number | null;
    text: string;
    mx_host: string | null;
    /** null: known from the queue only (delivery has not been asked since this process started). */
    at: string | null;
  } | null;
}

/** What delivery knows of a domain (Deliverer and its DestinationStatus). */
export interface DeliveryView {
  stateOf(domain: string): DestinationState | undefined;
  waitingForShaping(domain: string): boolean;
}

interface Tally {
  messages: number;
  recipients: number;
  held: number;
  running: number;
  ready: number;
  deferred: number;
  oldest: number;
  nextDue: number;
  lastError: string | null;
}

export function destinations(
  queue: QueueManager,
  delivery: DeliveryView,
  limit = 500,
): { destinations: DestinationRow[]; total: number } {
  const tallies = new Map<string, Tally>();
  for (const entry of queue.entries.values()) {
    const seen = new Set<string>();
    for (const job of entry.jobs) {
      let tally = tallies.get(job.domain);
      if (!tally) {
        tally = {
          messages: 0,
          recipients: 0,
          held: 0,
          running: 0,
          ready: 0,
          deferred: 0,
          oldest: entry.arrival,
          nextDue: Number.POSITIVE_INFINITY,
          lastError: null,
        };
        tallies.set(job.domain, tally);
      }
      tally.recipients += job.rcpts.length;
      if (!seen.has(job.domain)) {
        seen.add(job.domain);
        tally.messages++;
        if (entry.held) tally.held++;
        tally.oldest = Math.min(tally.oldest, entry.arrival);
      }
      if (job.state === 'running') tally.running++;
      else if (entry.held) continue;
      else if (job.state === 'deferred') {
        tally.deferred++;
        tally.nextDue = Math.min(tally.nextDue, job.due);
      } else tally.ready++;
      if (job.lastError) tally.lastError = job.lastError;
    }
  }
  const rows = [...tallies].map(([domain, tally]) => row(domain, tally, queue, delivery));
  rows.sort((a, b) => b.messages - a.messages || a.domain.localeCompare(b.domain));
  return { destinations: rows.slice(0, limit), total: rows.length };
}

function row(domain: string, tally: Tally, queue: QueueManager, delivery: DeliveryView): DestinationRow {
  const known = delivery.stateOf(domain);
  let state: DestinationStateName;
  if (tally.held === tally.messages && tally.running === 0) state = 'held';
  else if (queue.waitingForSlot(domain) > 0 || delivery.waitingForShaping(domain)) state = 'throttled';
  else if (tally.running > 0 || tally.ready > 0) state = 'active';
  else state = 'suspended';
  const hostSet = known?.hostSet ?? null;
  const colon = hostSet ? hostSet.lastIndexOf(':') : -1;
  const reply = known?.lastReply;
  return {
    domain,
    hosts: hostSet ? hostSet.slice(0, colon).split(',') : null,
    port: hostSet ? Number(hostSet.slice(colon + 1)) : null,
    messages: tally.messages,
    recipients: tally.recipients,
    held: tally.held,
    running: tally.running,
    oldest: new Date(tally.oldest).toISOString(),
    state,
    failures: known?.failures ?? 0,
    next_attempt: Number.isFinite(tally.nextDue) ? new Date(tally.nextDue).toISOString() : null,
    last_reply: reply
      ? {
          status: reply.status,
          code: reply.code,
          text: reply.text,
          mx_host: reply.mx_host,
          at: new Date(reply.at).toISOString(),
        }
      : tally.lastError
        ? { status: 'defer', code: null, text: tally.lastError, mx_host: null, at: null }
        : null,
  };
}
