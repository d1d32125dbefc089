/**
 * The queue tools' operations (Sluice's postqueue/postsuper) on a running QueueManager: summary by
 * domain, list, show, flush (deferred jobs run now), hold and release (the hold is persisted in the
 * spool, so it survives a restart), requeue (postsuper -r: every pending recipient starts over as
 * if just accepted, routed afresh, hold lifted, arrival kept), delete (no DSN, as postsuper -d)
 * and bounce (a DSN as for any bounce). Delete and bounce both record a `bounce` event of class 25
 * (Admin Failure) per pending recipient, their raw_reason saying which: SparkPost has no event for
 * a deleted message, and an event stream where an injected recipient never ends would leave its
 * consumers waiting. Operations that remove a message refuse while one of its attempts is running
 * (`busy`): the peer may be accepting it right now. Jobs are withdrawn from the manager's queues
 * by marking them cancelled; the manager skips them.
 * A message is named by its message id (the one in its 250 reply and its events) or its queue id
 * (the spool's); they differ only for a message an upstream milter named, and then a message id
 * may name several queued messages (an MTA relaying one message in several transactions): every
 * operation applies to each of them.
 */
import { bounceEvent, type SluiceEvent } from '../core/events.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';
import { entryIds } from './log-ids.js';
import type { QueueManager } from './manager.js';
import type { BouncedRcpt, Entry } from './queue-entries.js';
import type { Spool, SpooledMessage } from './spool.js';
import { type DomainSummary, lastDeferrals, newestError, type QueuedMessage, summarise } from './view.js';

export type { DomainSummary, QueuedMessage };

export const DELETE_REASON = '550 5.0.0 [internal] Message deleted by the administrator (no DSN sent)';
export const BOUNCE_REASON = '550 5.0.0 Message bounced by the administrator';

/** The operations that act on a selection of messages. */
export const BULK_OPERATIONS = ['hold', 'release', 'delete', 'bounce', 'requeue'] as const;
export type BulkOperation = (typeof BULK_OPERATIONS)[number];

/** Messages chosen by what they are rather than by id (postsuper's ALL, narrowed). */
export interface Selection {
  /** With a recipient at this domain. */
  domain?: string | undefined;
  /** Arrived at least this long ago (ms). */
  olderThanMs?: number | undefined;
}

export class QueueControlError extends Error {
  constructor(
    readonly code: 'not-found' | 'busy' | 'bad-request',
    message: string,
  ) {
    super(message);
  }
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
    const messages = [];
    for (const entry of this.queue.entries.values()) {
      const recipients = [...entry.jobs].map((job) => ({
        domain: job.domain,
        last_error: job.lastError ?? null,
        count: job.rcpts.length,
      }));
      messages.push({ arrival: new Date(entry.arrival).toISOString(), held: entry.held, recipients });
    }
    return summarise(messages);
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

  /** Removes the message without a DSN (postsuper -d); each pending recipient gets its class 25 bounce event. */
  async delete(id: string): Promise<void> {
    for (const queueId of this.resolve(id)) {
      const { entry, message } = await this.withdraw(queueId);
      const events = this.adminBounces(entry, message, DELETE_REASON);
      for (const { event } of events) this.events.append(event);
      await this.removeFromSpool(entry);
      this.log.info({ ...entryIds(entry), rcpts: events.length }, 'queue: deleted by the administrator');
    }
  }

  /** Bounces every pending recipient now: bounce events (class 25), then a DSN as for any bounce. */
  async bounce(id: string): Promise<number> {
    let count = 0;
    for (const queueId of this.resolve(id)) count += await this.bounceOne(queueId);
    return count;
  }

  private async bounceOne(id: string): Promise<number> {
    const { entry, message } = await this.withdraw(id);
    const bounced = this.adminBounces(entry, message, BOUNCE_REASON);
    for (const { event } of bounced) this.events.append(event);
    if (this.onBounced && bounced.length > 0) await this.onBounced(message, bounced);
    await this.removeFromSpool(entry);
    this.log.info({ ...entryIds(entry), rcpts: bounced.length }, 'queue: bounced by the administrator');
    return bounced.length;
  }

  /**
   * postsuper -r: the pending recipients start over as a message just accepted (new jobs, no
   * attempts counted, due now, routed afresh by the current transport map and relayhost), the
   * hold lifted. The id and the arrival time stay: max_queue_lifetime still counts from arrival.
   */
  async requeue(id: string): Promise<void> {
    for (const queueId of this.resolve(id)) {
      const { entry } = await this.withdraw(queueId);
      await entry.writes.catch(() => {});
      const fresh = await this.spool.read(queueId);
      if (!fresh) throw new QueueControlError('not-found', `no queued message ${queueId}`);
      if (entry.held) await this.spool.setHold(queueId, false);
      this.queue.add(fresh, false);
      this.log.info(entryIds(entry), 'queue: requeued by the administrator');
    }
  }

  /** The recipients still pending, each with a class 25 bounce event saying why. */
  private adminBounces(entry: Entry, message: SpooledMessage, reason: string): BouncedRcpt[] {
    const now = new Date();
    const bounced: BouncedRcpt[] = [];
    for (const job of entry.jobs) {
      for (const rcpt of job.rcpts) {
        const event: SluiceEvent = bounceEvent(
          message.envelope.facts,
          rcpt,
          { num_retries: job.attempts, error_code: '550', raw_reason: reason, bounce_class: '25' },
          now,
        );
        bounced.push({
          result: { rcpt, status: 'bounce', code: 550, enhanced: '5.0.0', text: reason, mxHost: undefined },
          event,
        });
      }
    }
    return bounced;
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

  /**
   * Ids of the messages a selection names, oldest first: every message, narrowed to those with a
   * recipient at `domain` and those older than `olderThanMs`. Hold picks only messages not held,
   * release only held ones (postsuper -h ALL / -H ALL).
   */
  select(operation: BulkOperation, selection: Selection, now = Date.now()): string[] {
    const ids: string[] = [];
    for (const [id, entry] of this.queue.entries) {
      if (operation === 'hold' && entry.held) continue;
      if (operation === 'release' && !entry.held) continue;
      if (selection.olderThanMs !== undefined && now - entry.arrival < selection.olderThanMs) continue;
      if (selection.domain && ![...entry.jobs].some((job) => job.domain === selection.domain)) continue;
      ids.push(id);
    }
    return ids.sort();
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

  /**
   * Withdraws every job of a message not being delivered right now, and forgets the message; its
   * envelope is read first, so a message that cannot be read stays queued and the error is reported.
   */
  private async withdraw(id: string): Promise<{ entry: Entry; message: SpooledMessage }> {
    const message = await this.queue.load(this.entry(id));
    const entry = this.entry(id); // still queued after the read?
    if ([...entry.jobs].some((job) => job.state === 'running'))
      throw new QueueControlError('busy', `message ${id} is being delivered right now; try again`);
    for (const job of entry.jobs) job.cancelled = true;
    entry.parked = [];
    this.queue.entries.delete(id);
    return { entry, message };
  }

  private async removeFromSpool(entry: Entry): Promise<void> {
    entry.writes = entry.writes.catch(() => {}).then(() => this.spool.remove(entry.id));
    await entry.writes;
  }

  /**
   * The message as the queue tools show it. Its last deferral comes from memory, or, for jobs not
   * attempted since this server started (their attempts and reason were another run's), from the
   * event store.
   */
  private async describe(entry: Entry): Promise<QueuedMessage> {
    const message = entry.message ?? (await this.spool.read(entry.id).catch(() => null));
    if (!message) throw new QueueControlError('not-found', `no queued message ${entry.id}`);
    const jobs = [...entry.jobs];
    const remembered = jobs.some((job) => !job.lastError)
      ? await lastDeferrals(this.events, message.envelope.facts.message_id)
      : new Map();
    const recipients: QueuedMessage['recipients'] = [];
    for (const job of jobs) {
      for (const rcpt of job.rcpts) {
        const known = job.lastError ? undefined : remembered.get(rcpt.toLowerCase());
        recipients.push({
          rcpt,
          domain: job.domain,
          state: entry.held && job.state !== 'running' ? 'held' : (job.state ?? 'ready'),
          attempts: Math.max(job.attempts, known?.attempts ?? 0),
          due: job.state === 'deferred' ? new Date(job.due).toISOString() : null,
          last_error: job.lastError || known?.reason || null,
        });
      }
    }
    return {
      id: message.id,
      message_id: message.envelope.facts.message_id,
      mail_from: message.envelope.mail_from,
      size: message.messageLength,
      arrival: new Date(entry.arrival).toISOString(),
      held: entry.held,
      recipients,
      last_error: newestError(recipients),
    };
  }
}
