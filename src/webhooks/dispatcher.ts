/**
 * Webhook delivery: every event the server records is offered here; each active webhook that
 * wants it gathers it into a batch for webhooks.batch_interval (or up to webhooks.max_batch
 * events), the batch is stored (WebhookStore) and only then POSTed to the target with
 * X-MessageSystems-Batch-ID and our signature header. A non-2xx answer or no answer retries the
 * same bytes under the same batch id per webhooks.retry_schedule until webhooks.max_age; a
 * restart resumes stored batches (at-least-once). Events gathered but not yet stored are written
 * on a graceful stop; a crash loses at most one batch_interval of them.
 */
import type { Config } from '../config/schema.js';
import type { SluiceEvent } from '../core/events.js';
import { batchPayload, newBatchId, nextAttempt, wants } from '../core/webhooks.js';
import type { Logger } from '../log.js';
import type { EventStore, WebhookBatch, WebhookRecord, WebhookStore } from '../store/types.js';
import { postBatch } from './post.js';

export interface DispatcherOptions {
  batchIntervalMs: number;
  maxBatch: number;
  retrySchedule: readonly number[];
  maxAgeMs: number;
  timeoutMs: number;
  /** Targets on loopback or private networks allowed (webhooks.allow_private_targets). */
  allowPrivateTargets: boolean;
}

/** The last attempt at a webhook's target, as this process made it (the operator console shows it). */
export interface WebhookAttemptStatus {
  last_batch: { id: string; at: string; attempts: number; ok: boolean; detail: string } | null;
  /** Attempts in a row the target did not accept. */
  failures: number;
}

/** Batches attempted at once, across webhooks. */
const PARALLEL = 16;
/** Events held while the webhook list has never been read (store away at start), at most. */
const MAX_HELD = 100_000;
/** The webhook list is re-read this often, so a webhook created or changed on another node sharing
 * the store (Redis) is used here too. */
const RELOAD_MS = 5_000;

/** The dispatcher configured by the webhooks section, for any process that records events. */
export function webhookDispatcher(
  section: Config['webhooks'],
  store: WebhookStore,
  log: Logger,
): WebhookDispatcher {
  return new WebhookDispatcher(
    store,
    {
      batchIntervalMs: section.batch_interval,
      maxBatch: section.max_batch,
      retrySchedule: section.retry_schedule,
      maxAgeMs: section.max_age,
      timeoutMs: section.timeout,
      allowPrivateTargets: section.allow_private_targets,
    },
    log.child({ part: 'webhooks' }),
  );
}

export class WebhookDispatcher {
  private webhooks: WebhookRecord[] = [];
  private readonly gathered = new Map<string, SluiceEvent[]>();
  private readonly inFlight = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private loadedAt = 0;
  /** The last tick failed (logged once until a tick succeeds again). */
  private failing = false;
  /**
   * Events offered before the list was ever read: which webhook wants them is not known yet, so
   * they wait here (bounded) and are offered again once it is, instead of going to no webhook.
   */
  private held: SluiceEvent[] | null = [];
  private heldDropped = 0;
  private readonly attempts = new Map<string, WebhookAttemptStatus>();

  constructor(
    private readonly store: WebhookStore,
    private readonly options: DispatcherOptions,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    // A store that cannot be read yet (Redis not up) must not keep the node from starting: every
    // tick reads the list again until it can; events recorded meanwhile are held until then.
    await this.reload().catch((error: unknown) =>
      this.log.warn({ err: error }, 'webhooks not loaded: store unavailable, retrying'),
    );
    this.timer = setInterval(() => this.tick(), this.options.batchIntervalMs);
    this.timer.unref();
    this.tick();
  }

  /** The last attempt this process made for a webhook, and its failures in a row. */
  statusOf(webhookId: string): WebhookAttemptStatus {
    return this.attempts.get(webhookId) ?? { last_batch: null, failures: 0 };
  }

  /** Re-reads the webhooks (after the API changed one). */
  async reload(): Promise<void> {
    this.webhooks = await this.store.list();
    this.loadedAt = Date.now();
    for (const id of this.attempts.keys())
      if (!this.webhooks.some((w) => w.id === id)) this.attempts.delete(id);
    const held = this.held;
    if (held === null) return;
    this.held = null;
    if (this.heldDropped > 0)
      this.log.warn(
        { dropped: this.heldDropped },
        'webhook events dropped while the store was away at start',
      );
    for (const event of held) this.offer(event);
  }

  offer(event: SluiceEvent): void {
    if (this.held) {
      if (this.held.length >= MAX_HELD) {
        this.held.shift();
        this.heldDropped++;
      }
      this.held.push(event);
      return;
    }
    for (const webhook of this.webhooks) {
      if (!wants(webhook, event)) continue;
      let events = this.gathered.get(webhook.id);
      if (!events) {
        events = [];
        this.gathered.set(webhook.id, events);
      }
      events.push(event);
      if (events.length >= this.options.maxBatch) this.tick();
    }
  }

  /** Stores what was gathered, stops the timer, waits for attempts in flight. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
    await this.storeGathered();
    if (this.held && this.held.length > 0)
      this.log.warn({ events: this.held.length }, 'webhook events not sent: the store never answered');
  }

  private tick(): void {
    if (this.ticking) return;
    const fresh = Date.now() - this.loadedAt < RELOAD_MS ? Promise.resolve() : this.reload();
    this.ticking = fresh
      .then(() => this.storeGathered())
      .then(() => this.attemptDue())
      .then(
        () => {
          if (this.failing) this.log.info('webhook dispatch resumed');
          this.failing = false;
        },
        (error: unknown) => {
          // Once per change of state: a store outage would otherwise log every batch_interval.
          if (!this.failing) this.log.error({ err: error }, 'webhook dispatch failed');
          else this.log.debug({ err: error }, 'webhook dispatch still failing');
          this.failing = true;
        },
      )
      .finally(() => {
        this.ticking = null;
      });
  }

  private async storeGathered(): Promise<void> {
    const now = Date.now();
    for (const [webhookId, events] of this.gathered) {
      this.gathered.delete(webhookId);
      for (let i = 0; i < events.length; i += this.options.maxBatch) {
        const batch: WebhookBatch = {
          id: newBatchId(),
          webhook_id: webhookId,
          payload: batchPayload(events.slice(i, i + this.options.maxBatch)),
          created: now,
          due: now,
          attempts: 0,
        };
        await this.store.enqueue(batch);
      }
    }
  }

  private async attemptDue(): Promise<void> {
    const due = (await this.store.due(Date.now(), PARALLEL * 4)).filter((b) => !this.inFlight.has(b.id));
    // A batch for a webhook this node has not seen yet (created on another node): read the list
    // again before concluding the webhook was deleted.
    if (due.some((b) => !this.webhooks.some((w) => w.id === b.webhook_id))) await this.reload();
    const byId = new Map(this.webhooks.map((w) => [w.id, w]));
    const attempts = due.slice(0, PARALLEL).map(async (batch) => {
      const webhook = byId.get(batch.webhook_id);
      if (!webhook) return this.store.remove(batch.id); // the webhook was deleted
      if (!webhook.active) return;
      this.inFlight.add(batch.id);
      try {
        await this.attempt(webhook, batch);
      } finally {
        this.inFlight.delete(batch.id);
      }
    });
    await Promise.all(attempts);
  }

  private async attempt(webhook: WebhookRecord, batch: WebhookBatch): Promise<void> {
    const result = await postBatch(webhook, batch.id, batch.payload, this.options);
    const failures = result.ok ? 0 : this.statusOf(webhook.id).failures + 1;
    this.attempts.set(webhook.id, {
      last_batch: {
        id: batch.id,
        at: new Date().toISOString(),
        attempts: batch.attempts + 1,
        ok: result.ok,
        detail: result.detail,
      },
      failures,
    });
    const log = {
      webhook_id: webhook.id,
      batch_id: batch.id,
      attempts: batch.attempts + 1,
      result: result.detail,
    };
    if (result.ok) {
      await this.store.remove(batch.id);
      this.log.debug(log, 'webhook batch accepted');
      return;
    }
    const attempts = batch.attempts + 1;
    const next = nextAttempt(batch.created, attempts, this.options.retrySchedule, this.options.maxAgeMs);
    if (next === null) {
      await this.store.remove(batch.id);
      this.log.warn(log, 'webhook batch dropped: not accepted within webhooks.max_age');
      return;
    }
    await this.store.reschedule(batch.id, attempts, next);
    this.log.info({ ...log, retry_at: new Date(next).toISOString() }, 'webhook batch refused; will retry');
  }
}

/** The event store every part of the server records through: the store, then the dispatcher. */
export function observedEvents(store: EventStore, observe: (event: SluiceEvent) => void): EventStore {
  return {
    append(event) {
      store.append(event);
      observe(event);
    },
    appendMany(events) {
      store.appendMany(events);
      for (const event of events) observe(event);
    },
    search: (filter) => store.search(filter),
    page: (filter) => store.page(filter),
  };
}

/**
 * observedEvents for a writer that answers once a batch is durable (ThreadedEventStore.commit):
 * each event is offered after its batch is written, as observedEvents does after an append.
 */
export function observedCommits(
  commit: (events: readonly SluiceEvent[]) => Promise<void>,
  observe: (event: SluiceEvent) => void,
): { appendMany(events: readonly SluiceEvent[]): Promise<void> } {
  return {
    async appendMany(events) {
      await commit(events);
      for (const event of events) observe(event);
    },
  };
}
