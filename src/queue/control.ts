/**
 * The queue tools' operations (Sluice's postqueue/postsuper) on a running QueueManager: summary by
 * domain, list, show, flush (deferred jobs run now), hold and release (the hold is persisted in the
 * spool, so it survives a restart), delete (silently, as postsuper -d) and bounce (bounce events
 * with class 25, admin failure, and a DSN as for any bounce). Operations that remove a message
 * refuse while one of its attempts is running (`busy`): the peer may be accepting it right now.
 * Jobs are withdrawn from the manager's queues by marking them cancelled; the manager skips them.
 * A message is named by its message id (the one in its 250 reply and its events) or its queue id
 * (the spool's); they differ only for a message an upstream milter named, and then a message id
 * may name several queued messages (an MTA relaying one message in several transactions): every
 * operation applies to each of them.
 */
import { bounceEvent } from '../core/events.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';
import { type BouncedRcpt, type Entry, entryIds, type Job, type QueueManager } from './manager.js';
import type { Spool, SpooledMessage } from './spool.js';

export class QueueControlError extends Error {
  constructor(
    readonly code: 'not-found' | 'busy' | 'bad-request',
    message: string,
  ) {
    super(message);
  }
}

export interface DomainSummary {
  domain: string;
  messages: number;
  recipients: number;
  held: number;
  oldest: string;
  last_error: string | null;
}

export interface QueuedMessage {
  /** The queue id (the spool's). */
  id: string;
  /** The message id: equal to id unless an upstream milter named the message. */
  message_id: string;
  mail_from: string;
  size: number;
  arrival: string;
  held: boolean;
  recipients: Array<{ rcpt: string; domain: string; state: string; attempts: number; due: string | null }>;
  last_error: string | null;
}

/** Per message or domain operations report as they go, so a long one can show progress. */
export type Progress = (done: number, total: number) => void;

export class QueueControl {
  constructor(
    private readonly queue: QueueManager,
    private readonly spool: Spool,
    private readonly events: EventStore,
    private readonly log: Logger,
    private readonly onBounced: ((message: SpooledMessage, bounced: BouncedRcpt[]) => Promise<void>) | null,
  ) {}

  summary(): DomainSummary[] {
    const byDomain = new Map<string, DomainSummary & { lastAt: number }>();
    for (const entry of this.queue.entries.values()) {
      const arrival = new Date(entry.arrival).toISOString();
      const seen = new Set<string>();
      for (const job of entry.jobs) {
        let row = byDomain.get(job.domain);
        if (!row) {
          row = {
            domain: job.domain,
            messages: 0,
            recipients: 0,
            held: 0,
            oldest: arrival,
            last_error: null,
            lastAt: 0,
          };
          byDomain.set(job.domain, row);
        }
        row.recipients += job.rcpts.length;
        if (!seen.has(job.domain)) {
          seen.add(job.domain);
          row.messages++;
          if (entry.held) row.held++;
          if (arrival < row.oldest) row.oldest = arrival;
        }
        if (job.lastError && arrival >= new Date(row.lastAt).toISOString()) {
          row.last_error = job.lastError;
          row.lastAt = Date.parse(arrival);
        }
      }
    }
    return [...byDomain.values()]
      .map(({ lastAt: _lastAt, ...row }) => row)
      .sort((a, b) => b.messages - a.messages || a.domain.localeCompare(b.domain));
  }

  /** Messages by state: held, else running if an attempt is, else ready if a job is due, else deferred. */
  depth(): Record<string, number> {
    const depth: Record<string, number> = { ready: 0, deferred: 0, running: 0, held: 0 };
    for (const entry of this.queue.entries.values()) {
      let state = 'deferred';
      for (const job of entry.jobs) {
        if (job.state === 'running') state = 'running';
        else if (job.state === 'ready' && state !== 'running') state = 'ready';
      }
      if (entry.held && state !== 'running') state = 'held';
      depth[state]!++;
    }
    return depth;
  }

  /**
   * Oldest first, at most `limit` (cold messages' envelopes are read from the spool, so a big
   * queue wants one), with how many matched in all.
   */
  async list(
    filter: { domain?: string | undefined; limit?: number | undefined } = {},
  ): Promise<{ messages: QueuedMessage[]; total: number }> {
    const limit = filter.limit ?? Number.POSITIVE_INFINITY;
    const chosen: Entry[] = [];
    for (const entry of this.queue.entries.values()) {
      if (filter.domain && ![...entry.jobs].some((job) => job.domain === filter.domain)) continue;
      chosen.push(entry);
    }
    chosen.sort((a, b) => a.id.localeCompare(b.id));
    const messages: QueuedMessage[] = [];
    for (const entry of chosen.slice(0, limit)) {
      // Gone (delivered) while we were reading others: skip it.
      const described = await this.describe(entry).catch(() => null);
      if (described) messages.push(described);
    }
    return { messages, total: chosen.length };
  }

  /** The first queued message the id names (see the header for message ids naming several). */
  async show(id: string): Promise<QueuedMessage> {
    return await this.describe(this.entries(id)[0]!);
  }

  /** Queue ids of what an id names: itself when it is a queue id, else the entries with that message id. */
  resolve(id: string): string[] {
    return this.entries(id).map((entry) => entry.id);
  }

  /** Deferred jobs (of one message, one domain, or all) are due now. Held messages stay held. */
  async flush(
    target: { id?: string | undefined; domain?: string | undefined },
    progress?: Progress,
  ): Promise<number> {
    const entries = target.id ? this.entries(target.id) : [...this.queue.entries.values()];
    let flushed = 0;
    for (const [i, entry] of entries.entries()) {
      // Deleted or bounced while an earlier batch yielded: nothing of it may run again.
      if (!this.queue.entries.has(entry.id)) continue;
      for (const job of [...entry.jobs]) {
        if (job.cancelled || job.state !== 'deferred' || (target.domain && job.domain !== target.domain))
          continue;
        job.cancelled = true;
        entry.jobs.delete(job);
        this.queue.enqueue({ ...job, cancelled: false, due: 0 });
        flushed++;
      }
      if ((i + 1) % 1000 === 0) {
        progress?.(i + 1, entries.length);
        // Let the progress line go out, and deliveries start, while the rest is scanned.
        this.queue.rearm();
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    progress?.(entries.length, entries.length);
    this.queue.rearm();
    return flushed;
  }

  async hold(id: string): Promise<void> {
    for (const entry of this.entries(id)) {
      entry.held = true;
      await this.spool.setHold(entry.id, true);
      this.log.info(entryIds(entry), 'queue: held');
    }
  }

  async release(id: string): Promise<void> {
    for (const entry of this.entries(id)) {
      entry.held = false;
      await this.spool.setHold(entry.id, false);
      for (const job of entry.parked.splice(0)) {
        entry.jobs.delete(job);
        this.queue.enqueue({ ...job, due: 0 });
      }
      this.log.info(entryIds(entry), 'queue: released');
    }
    this.queue.rearm();
  }

  /** Removes the message without a trace beyond the log (postsuper -d). */
  async delete(id: string): Promise<void> {
    for (const queueId of this.resolve(id)) {
      const entry = this.take(queueId);
      await this.removeFromSpool(entry);
      this.log.info(entryIds(entry), 'queue: deleted by the administrator');
    }
  }

  /** Bounces every pending recipient now: bounce events (class 25), then a DSN as for any bounce. */
  async bounce(id: string): Promise<number> {
    let count = 0;
    for (const queueId of this.resolve(id)) count += await this.bounceOne(queueId);
    return count;
  }

  private async bounceOne(id: string): Promise<number> {
    const entry = this.take(id);
    const message = await this.queue.load(entry);
    const now = new Date();
    const reason = '550 5.0.0 Message bounced by the administrator';
    const bounced: BouncedRcpt[] = [];
    for (const job of entry.jobs) {
      for (const rcpt of job.rcpts) {
        const event = bounceEvent(
          message.envelope.facts,
          rcpt,
          { num_retries: job.attempts, error_code: '550', raw_reason: reason, bounce_class: '25' },
          now,
        );
        this.events.append(event);
        bounced.push({
          result: { rcpt, status: 'bounce', code: 550, enhanced: '5.0.0', text: reason, mxHost: undefined },
          event,
        });
      }
    }
    if (this.onBounced && bounced.length > 0) await this.onBounced(message, bounced);
    await this.removeFromSpool(entry);
    this.log.info({ ...entryIds(entry), rcpts: bounced.length }, 'queue: bounced by the administrator');
    return bounced.length;
  }

  /** Applies a per-message operation to several messages, reporting progress. */
  async each(
    ids: string[],
    operation: (id: string) => Promise<unknown>,
    progress?: Progress,
  ): Promise<{ done: string[]; failed: Array<{ id: string; error: string }> }> {
    const done: string[] = [];
    const failed: Array<{ id: string; error: string }> = [];
    for (const [i, id] of ids.entries()) {
      try {
        await operation(id);
        done.push(id);
      } catch (error) {
        failed.push({ id, error: (error as Error).message });
      }
      if ((i + 1) % 100 === 0 || i + 1 === ids.length) progress?.(i + 1, ids.length);
    }
    return { done, failed };
  }

  /** Ids of queued messages with a recipient at this domain. */
  idsForDomain(domain: string): string[] {
    const ids: string[] = [];
    for (const [id, entry] of this.queue.entries)
      if ([...entry.jobs].some((job) => job.domain === domain)) ids.push(id);
    return ids;
  }

  /** The entries an id names (a queue id, or a message id), in queue id order; not-found when none. */
  private entries(id: string): Entry[] {
    const entry = this.queue.entries.get(id);
    if (entry) return [entry];
    const named: Entry[] = [];
    for (const candidate of this.queue.entries.values())
      if (candidate.messageId === id) named.push(candidate);
    if (named.length === 0) throw new QueueControlError('not-found', `no queued message ${id}`);
    return named.sort((a, b) => a.id.localeCompare(b.id));
  }

  private entry(id: string): Entry {
    const entry = this.queue.entries.get(id);
    if (!entry) throw new QueueControlError('not-found', `no queued message ${id}`);
    return entry;
  }

  /** Withdraws every job of a message not being delivered right now, and forgets the message. */
  private take(id: string): Entry {
    const entry = this.entry(id);
    if ([...entry.jobs].some((job) => job.state === 'running'))
      throw new QueueControlError('busy', `message ${id} is being delivered right now; try again`);
    for (const job of entry.jobs) job.cancelled = true;
    entry.parked = [];
    this.queue.entries.delete(id);
    return entry;
  }

  private async removeFromSpool(entry: Entry): Promise<void> {
    entry.writes = entry.writes.catch(() => {}).then(() => this.spool.remove(entry.id));
    await entry.writes;
  }

  private async describe(entry: Entry): Promise<QueuedMessage> {
    const message = entry.message ?? (await this.spool.read(entry.id).catch(() => null));
    if (!message) throw new QueueControlError('not-found', `no queued message ${entry.id}`);
    return describeMessage(entry, message);
  }
}

function describeMessage(entry: Entry, message: SpooledMessage): QueuedMessage {
  const recipients: QueuedMessage['recipients'] = [];
  let lastError: string | null = null;
  const jobs: Job[] = [...entry.jobs];
  for (const job of jobs) {
    if (job.lastError) lastError = job.lastError;
    for (const rcpt of job.rcpts)
      recipients.push({
        rcpt,
        domain: job.domain,
        state: entry.held && job.state !== 'running' ? 'held' : (job.state ?? 'ready'),
        attempts: job.attempts,
        due: job.state === 'deferred' ? new Date(job.due).toISOString() : null,
      });
  }
  return {
    id: message.id,
    message_id: message.envelope.facts.message_id,
    mail_from: message.envelope.mail_from,
    size: message.messageLength,
    arrival: new Date(entry.arrival).toISOString(),
    held: entry.held,
    recipients,
    last_error: lastError,
  };
}
