/**
 * The queue manager (Postfix's qmgr): owns every spooled message, splits its pending recipients
 * into one job per domain, runs jobs through the Deliverer within a concurrency limit (overall,
 * and per recipient domain as its shaping allows, so one slow domain cannot hold every slot), turns
 * results into events, schedules retries with backoff and jitter, bounces what outlives
 * max_queue_lifetime, and removes a message from the spool once every recipient is final.
 *
 * Memory stays bounded by what is waiting, not by what it weighs: a message that is not being
 * attempted is kept "cold" (id, arrival time and its jobs' recipients; no envelope, no body) and
 * read back from its spool file when its next attempt starts. Only a bounded backlog of just
 * accepted messages stays "hot" with envelope and small body, to spare them the re-read.
 */

import type { SluiceEvent } from '../core/events.js';
import { type BounceRule, classifyBounce } from '../delivery/bounce-rules.js';
import type { Deliverer, RcptResult } from '../delivery/deliver.js';
import { type MessageRenderer, wantsTracking } from '../delivery/render.js';
import type { Logger } from '../log.js';
import { EventGroupCommit } from '../store/event-group-commit.js';
import type { EventStore } from '../store/types.js';
import { DomainSlots } from './domain-slots.js';
import { entryIds, idsOf } from './log-ids.js';
import { outcomeEvent, retryDelay } from './outcome-events.js';
import type { BouncedRcpt, Entry, Job } from './queue-entries.js';
import { recoverSpool } from './recovery.js';
import type { Spool, SpooledMessage } from './spool.js';
import { TimerHeap } from './timer-heap.js';

export interface QueueOptions {
  maxConcurrent: number;
  retrySchedule: number[];
  /** Each retry wait is varied by up to this fraction either way (0.1: +/-10%). */
  retryJitter?: number;
  maxLifetime: number;
  /** Classification rules (config's in front of the built-in table); the built-ins when absent. */
  bounceRules?: BounceRule[];
  /** Told of recipients that bounced, after their events and before the spool forgets them. */
  onBounced?: (message: SpooledMessage, bounced: BouncedRcpt[]) => Promise<void>;
  /** Turns spooled bytes into what goes on the wire (tracking); absent: the bytes as spooled. */
  renderer?: MessageRenderer;
  /** The group commit shared with the doors (their injection events); absent: one of its own. */
  groupCommit?: EventGroupCommit;
}

/** The status word of a delivery log line, Postfix's. */
const LOGGED_STATUS = {
  delivered: 'sent',
  defer: 'deferred',
  bounce: 'bounced',
  expired: 'expired',
} as const;

/** Hot messages queued to run now, at most; later arrivals wait cold. */
const HOT_BACKLOG = 1000;

export class QueueManager {
  /** Read and changed by queue/control.ts (the admin operations), nothing else. */
  readonly entries = new Map<string, Entry>();
  readonly ready: Job[] = [];
  readonly deferred = new TimerHeap<Job>();
  private readonly slots: DomainSlots;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private stopping = false;
  private idleWaiters: Array<() => void> = [];
  /** One copy of each recent reply and domain string: a down next hop gives every job the same one. */
  private readonly interned = new Map<string, string>();
  private readonly outcomes: EventGroupCommit;

  constructor(
    private readonly spool: Spool,
    private readonly deliverer: Deliverer,
    private readonly events: EventStore,
    private readonly log: Logger,
    private readonly options: QueueOptions,
  ) {
    this.outcomes = options.groupCommit ?? new EventGroupCommit(events);
    this.slots = new DomainSlots((domain) => deliverer.concurrencyFor(domain));
  }

  /**
   * A reload: concurrency, retry schedule and jitter, lifetime and bounce rules for what is decided
   * from now on (a retry already scheduled keeps its time). Starts more attempts if now allowed.
   */
  configure(
    options: Pick<
      QueueOptions,
      'maxConcurrent' | 'retrySchedule' | 'retryJitter' | 'maxLifetime' | 'bounceRules'
    >,
  ): void {
    Object.assign(this.options, options);
    this.pump();
  }

  /** Writes events with everything else recorded in this turn; resolves once they are stored. */
  recordEvents(events: readonly SluiceEvent[]): Promise<void> {
    return this.outcomes.record(events);
  }

  /** Picks up everything left in the spool by an earlier run. */
  async recover(): Promise<number> {
    return await recoverSpool(this.spool, this.events, this.log, (message, held) => this.add(message, held));
  }

  add(message: SpooledMessage, held = false): void {
    const pending = message.envelope.rcpts.filter((r) => !message.done.has(r));
    const messageId = message.envelope.facts.message_id;
    const entry: Entry = {
      id: message.id,
      messageId: messageId === message.id ? undefined : messageId,
      arrival: Date.parse(message.envelope.facts.injection_time),
      message: this.ready.length < HOT_BACKLOG ? message : null,
      loading: null,
      openJobs: 0,
      writes: Promise.resolve(),
      jobs: new Set(),
      held,
      parked: [],
      sideFile: message.done.size > 0,
    };
    const byDomain = new Map<string, string[]>();
    for (const rcpt of pending) {
      const domain = this.intern(rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase());
      byDomain.set(domain, [...(byDomain.get(domain) ?? []), rcpt]);
    }
    if (byDomain.size === 0) {
      this.spool
        .remove(message.id)
        .catch((error: unknown) => this.log.error({ err: error, ...idsOf(message) }, 'spool remove failed'));
      return;
    }
    this.entries.set(message.id, entry);
    // Tracking tokens name their recipient, so a tracked message is one transaction per recipient.
    const perRecipient = wantsTracking(message.envelope.facts);
    for (const [domain, rcpts] of byDomain) {
      for (const group of perRecipient ? rcpts.map((rcpt) => [rcpt]) : [rcpts]) {
        entry.openJobs++;
        this.enqueue({ entry, domain, rcpts: group, attempts: 0, due: 0 });
      }
    }
    this.pump();
  }

  get stats() {
    return { messages: this.entries.size, inFlight: this.inFlight, deferred: this.deferred.size };
  }

  /** Jobs of a domain waiting because its shaping allows no more at once (the console reads it). */
  waitingForSlot(domain: string): number {
    return this.slots.waitingIn(domain);
  }

  /** Stops starting attempts and waits (up to timeoutMs) for those in flight to finish. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.inFlight === 0) return;
    // The deadline must not outlive the wait: an armed timer would keep the process up for all of it.
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        deadline = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(deadline);
  }

  /** Queues a job to run now (due 0) or later. */
  enqueue(job: Job): void {
    job.entry.jobs.add(job);
    job.state = job.due > 0 ? 'deferred' : 'ready';
    if (job.due > 0) this.deferred.push(job.due, job);
    else this.ready.push(job);
  }

  pump(): void {
    if (this.stopping) return;
    while (this.inFlight < this.options.maxConcurrent && this.ready.length > 0) {
      const job = this.ready.shift()!;
      if (job.cancelled) continue;
      if (job.entry.held) {
        job.state = 'parked';
        job.entry.parked.push(job);
        continue;
      }
      if (!this.slots.take(job)) continue;
      job.state = 'running';
      this.inFlight++;
      this.run(job)
        .catch((error: unknown) => this.log.error({ err: error, ...entryIds(job.entry) }, 'queue error'))
        .finally(() => {
          this.inFlight--;
          const next = this.slots.release(job.domain);
          if (next) this.ready.unshift(next);
          if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
          this.pump();
        });
    }
    this.armTimer();
  }

  private armTimer(): void {
    const due = this.deferred.peekDue();
    if (this.timer || due === undefined || this.stopping) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        for (const job of this.deferred.popDue(Date.now())) {
          job.due = 0;
          job.state = 'ready';
          this.ready.push(job);
        }
        this.pump();
      },
      Math.max(0, due - Date.now()),
    );
    this.timer.unref();
  }

  /** The message with its envelope: from memory, or read back from the spool (once for all its jobs). */
  async load(entry: Entry): Promise<SpooledMessage> {
    if (entry.message) return entry.message;
    entry.loading ??= this.spool.read(entry.id).then((message) => {
      entry.loading = null;
      if (!message) throw new Error(`spool file of ${entry.id} is gone or incomplete`);
      entry.message = message;
      return message;
    });
    return await entry.loading;
  }

  /**
   * Drops the envelope and body of a message none of whose jobs is running, unless another of its
   * jobs is queued to run now and the queue of such jobs is shorter than the hot backlog (the bound
   * add() keeps): a message to many domains is then read from the spool once, not once per domain.
   */
  private cool(entry: Entry): void {
    let queued = false;
    for (const job of entry.jobs) {
      if (job.state === 'running') return;
      if (job.state === 'ready') queued = true;
    }
    if (queued && this.ready.length + this.slots.waitingCount < HOT_BACKLOG) return;
    entry.message = null;
  }

  private async run(job: Job): Promise<void> {
    let message: SpooledMessage;
    try {
      message = await this.load(job.entry);
    } catch (error) {
      // Unreadable now (disk trouble): try again later rather than lose the job.
      this.log.error({ err: error, ...entryIds(job.entry) }, 'cannot read a queued message; retrying later');
      job.entry.jobs.delete(job);
      this.enqueue({ ...job, due: Date.now() + this.backoff(job.attempts) });
      this.armTimer();
      return;
    }
    let settled: Promise<void> | null = null;
    const results = await this.deliverer.attempt({
      domain: job.domain,
      mailFrom: message.envelope.mail_from,
      rcpts: job.rcpts,
      size: message.messageLength,
      ipPool: message.envelope.facts.msys.options?.ip_pool,
      sandbox: message.envelope.facts.msys.options?.sandbox === true,
      body: () => {
        const source = this.spool.body(message);
        const { renderer } = this.options;
        if (!renderer) return source;
        return renderer.render(message.envelope.facts, job.rcpts, source, (result) => {
          job.trackingNote = result.reasons.length > 0 ? result.reasons.join('; ') : undefined;
        });
      },
      settle: (outcome) => {
        settled = this.settle(job, message, outcome);
        return settled;
      },
    });
    await (settled ?? this.settle(job, message, results));
    if (this.entries.has(job.entry.id)) this.cool(job.entry);
  }

  /** Events, retries and the spool record for one attempt's results. */
  private async settle(job: Job, message: SpooledMessage, results: RcptResult[]): Promise<void> {
    const now = Date.now();
    const expired = now - job.entry.arrival >= this.options.maxLifetime;
    const final: string[] = [];
    const retry: string[] = [];
    const bounced: BouncedRcpt[] = [];
    let lastError: string | undefined;
    job.entry.jobs.delete(job);
    const events: SluiceEvent[] = [];
    for (const result of results) {
      const kind = result.status === 'defer' && expired ? 'expired' : result.status;
      const event = outcomeEvent(kind, message.envelope.facts, job, result, new Date(now), (e, t) =>
        this.classify(e, t),
      );
      events.push(event);
      if (kind === 'bounce' || kind === 'expired') bounced.push({ result, event });
      if (kind === 'defer') lastError ??= result.text;
      // Postfix's fields (to, relay, delay, dsn, status): log.format text prints them as Postfix does.
      const status = LOGGED_STATUS[kind];
      this.log[kind === 'delivered' ? 'info' : 'warn'](
        {
          ...idsOf(message),
          to: result.rcpt,
          relay: result.relay ?? 'none',
          delay: Math.round((now - job.entry.arrival) / 10) / 100,
          dsn: result.enhanced ?? `${String(result.code || (kind === 'defer' ? 4 : 5))[0]}.0.0`,
          status,
          reply: result.text,
        },
        status,
      );
      if (kind === 'defer') retry.push(result.rcpt);
      else final.push(result.rcpt);
    }
    // Written (with the events of every transaction settling in this turn) before the spool
    // records these recipients as final: a crash in between means a retry, never a lost event.
    const recorded = this.outcomes.record(events);
    job.entry.openJobs--;
    if (retry.length > 0) {
      job.entry.openJobs++;
      this.enqueue({
        ...job,
        rcpts: retry,
        attempts: job.attempts + 1,
        due: now + this.backoff(job.attempts),
        lastError: this.intern(lastError ?? ''),
      });
      this.armTimer();
    }
    // DSNs are spooled before the recipients are marked done: a crash in between repeats the
    // bounce rather than losing its DSN.
    if (bounced.length > 0 && this.options.onBounced) {
      await this.options
        .onBounced(message, bounced)
        .catch((error: unknown) =>
          this.log.error({ err: error, ...idsOf(message) }, 'bounce handling failed'),
        );
    }
    // One spool write at a time per message: a side-file append still running when another job's
    // remove() unlinks it would leave an orphan `<id>.done` behind.
    let write: (() => Promise<void>) | null = null;
    if (job.entry.openJobs === 0) {
      this.entries.delete(job.entry.id);
      const { sideFile } = job.entry;
      write = () => this.spool.remove(message.id, sideFile);
    } else if (final.length > 0) {
      job.entry.sideFile = true;
      write = () => this.spool.markDone(message.id, final);
    }
    await recorded;
    if (write) {
      job.entry.writes = job.entry.writes.catch(() => {}).then(write);
      await job.entry.writes;
    }
  }

  private intern(text: string): string {
    const known = this.interned.get(text);
    if (known !== undefined) return known;
    if (this.interned.size >= 10_000) this.interned.clear();
    this.interned.set(text, text);
    return text;
  }

  /** Called by queue/control.ts after it changed the queues. */
  rearm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pump();
  }

  classify(enhanced: string | undefined, text: string): number {
    return classifyBounce(enhanced, text, this.options.bounceRules);
  }

  private backoff(attempts: number): number {
    return retryDelay(this.options.retrySchedule, this.options.retryJitter ?? 0.1, attempts);
  }
}
