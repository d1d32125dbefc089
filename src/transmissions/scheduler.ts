/**
 * Generates the transmissions that wait in the store: scheduled ones once their start_time comes,
 * and those on a stored recipient list (generated in the background, as SparkPost does). Each is
 * claimed with a lease (renewed while it runs), resolved as it is at generation time (template
 * version, list members), and generated in chunks; after each chunk the progress is stored, so a
 * node that dies mid-generation is resumed (by itself after a restart, or by another node sharing
 * the store once the lease ran out) from the last stored chunk. Message ids are derived from the
 * transmission and the recipient's position, and the resumed chunk skips recipients whose message
 * already left a trace (spool file or event): nothing is sent twice, nothing is lost. Once an
 * hour, finished transmissions older than events.retention are forgotten.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { generationFailureEvent, type MessageFacts } from '../core/events.js';
import { TemplateError } from '../core/template/index.js';
import type {
  RecipientListStore,
  TemplateStore,
  TransmissionRecord,
  TransmissionStore,
} from '../store/types.js';
import { type GenerateDeps, generate } from './generate.js';
import { buildPlan, PlanError, type RecipientInput, type StoredRequest } from './plan.js';

export interface SchedulerDeps extends GenerateDeps {
  transmissions: TransmissionStore;
  templates: TemplateStore;
  recipientLists: RecipientListStore;
}

export interface SchedulerOptions {
  pollMs?: number;
  leaseMs?: number;
  /** Recipients generated between two progress records (else transmissions.generation_chunk, read at each chunk). */
  chunk?: number;
  retentionMs: number;
}

const HOUR_MS = 3_600_000;

export class TransmissionScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopping = false;
  private prunedAt = 0;
  private readonly pollMs: number;
  private readonly leaseMs: number;

  constructor(
    private readonly deps: SchedulerDeps,
    private readonly options: SchedulerOptions,
  ) {
    this.pollMs = options.pollMs ?? 1000;
    this.leaseMs = options.leaseMs ?? 15_000;
  }

  /** Read each time: a reload's new transmissions.generation_chunk applies from the next chunk. */
  private get chunk(): number {
    return this.options.chunk ?? this.deps.config.transmissions.generation_chunk;
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Looks for due work now (a transmission was just submitted for immediate generation). */
  kick(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  /** Stops claiming; a generation in progress stops at its next chunk (and resumes after a restart). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  private async drain(): Promise<void> {
    try {
      await this.prune();
      while (!this.stopping) {
        const now = Date.now();
        const [record] = await this.deps.transmissions.claimDue(now, now + this.leaseMs, 1);
        if (!record) return;
        await this.run(record);
      }
    } catch (error) {
      this.deps.log.error({ err: error }, 'transmission generation failed; will retry');
    }
  }

  private async prune(): Promise<void> {
    const now = Date.now();
    if (now - this.prunedAt < HOUR_MS) return;
    this.prunedAt = now;
    const removed = await this.deps.transmissions.prune(
      new Date(now - this.options.retentionMs).toISOString(),
    );
    if (removed > 0) this.deps.log.info({ removed }, 'forgot finished transmissions past the retention');
  }

  private async run(record: TransmissionRecord): Promise<void> {
    const { transmissions, log } = this.deps;
    const lease = () => Date.now() + this.leaseMs;
    const heartbeat = setInterval(() => {
      transmissions.update(record.id, {}, lease()).catch(() => {});
    }, this.leaseMs / 3);
    heartbeat.unref();
    try {
      const raw = await transmissions.request(record.id);
      const stored = raw ? (JSON.parse(raw) as StoredRequest) : null;
      const resuming = record.generation_start_time !== null;
      const started = record.generation_start_time ?? new Date().toISOString();
      const recipients = stored ? await this.recipientsOf(stored) : [];
      await transmissions.update(
        record.id,
        { generation_start_time: started, num_rcpts: recipients.length },
        lease(),
      );
      log.info(
        { transmission_id: record.id, recipients: recipients.length, from: record.progress, resuming },
        resuming ? 'resuming transmission generation' : 'generating transmission',
      );
      const ids = messageIds(record.id, Date.parse(started));
      let generated = record.num_generated;
      let failed = record.num_failed_gen;
      let plan: Awaited<ReturnType<typeof buildPlan>> | null = null;
      let planError: string | null = null;
      if (stored) {
        try {
          plan = await buildPlan(record.id, stored, this.deps, new Date());
        } catch (error) {
          if (!(error instanceof PlanError) && !(error instanceof TemplateError)) throw error;
          planError = error.message;
        }
      }
      for (let at = record.progress; at < recipients.length; ) {
        if (this.stopping) return;
        const chunk = recipients.slice(at, at + this.chunk);
        if (plan) {
          const result = await generate(plan, chunk, this.deps, {
            messageId: ids,
            first: at,
            alreadyGenerated: resuming && at === record.progress ? (id) => this.traced(id) : undefined,
          });
          generated += result.generated;
          failed += result.failed;
        } else {
          this.failAll(record, stored!, chunk, at, ids, planError ?? 'nothing to generate');
          failed += chunk.length;
        }
        await transmissions.update(
          record.id,
          { progress: at + chunk.length, num_generated: generated, num_failed_gen: failed },
          lease(),
        );
        at += chunk.length;
      }
      await transmissions.update(
        record.id,
        { state: 'Success', generation_end_time: new Date().toISOString() },
        null,
      );
      log.info({ transmission_id: record.id, generated, failed }, 'transmission generated');
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async recipientsOf(stored: StoredRequest): Promise<RecipientInput[]> {
    const { recipients } = stored.body;
    if (Array.isArray(recipients)) return recipients;
    const members = await this.deps.recipientLists.recipients(recipients.list_id);
    if (!members)
      this.deps.log.warn({ list: recipients.list_id }, 'recipient list vanished before generation');
    return (members ?? []) as unknown as RecipientInput[];
  }

  /** Whether a message id already left a trace: its spool file, or an event recorded for it. */
  private async traced(messageId: string): Promise<boolean> {
    if (existsSync(this.deps.spool.fileOf(messageId))) return true;
    const found = await this.deps.events.search({
      messageId,
      types: ['injection', 'generation_failure', 'generation_rejection', 'policy_rejection'],
      limit: 1,
    });
    return found.length > 0;
  }

  /** The template or its data cannot be used at all: every recipient gets its generation_failure. */
  private failAll(
    record: TransmissionRecord,
    stored: StoredRequest,
    chunk: readonly RecipientInput[],
    first: number,
    ids: (index: number) => string,
    reason: string,
  ): void {
    const now = new Date();
    const events = chunk.map((recipient, i) => {
      const email = typeof recipient.address === 'string' ? recipient.address : recipient.address.email;
      const facts: MessageFacts = {
        message_id: ids(first + i),
        transmission_id: record.id,
        msg_from: stored.body.return_path ?? '',
        friendly_from: '',
        subject: '',
        msg_size: 0,
        injection_time: now.toISOString(),
        recv_method: 'rest',
        api_key_id: stored.key.id,
        client_ip: stored.client_ip,
        msys: {
          ...(record.campaign_id ? { campaign_id: record.campaign_id } : {}),
          metadata: { ...stored.body.metadata, ...recipient.metadata },
          tags: recipient.tags ?? [],
        },
        ...(record.template_id !== 'inline' ? { template_id: record.template_id } : {}),
      };
      return generationFailureEvent(facts, email, reason, recipient.substitution_data ?? {}, now);
    });
    this.deps.events.appendMany(events);
  }
}

/**
 * Message ids of one generation: the generation's start in milliseconds (as every message id
 * starts with its time) and 32 bits that are the transmission's own offset plus the recipient's
 * position, so each recipient has one id however often its generation is resumed.
 */
export function messageIds(transmissionId: string, startedMs: number): (index: number) => string {
  const prefix = startedMs.toString(16).padStart(12, '0').slice(-12);
  const offset = createHash('sha256').update(transmissionId).digest().readUInt32BE(0);
  return (index) => prefix + ((offset + index) >>> 0).toString(16).padStart(8, '0');
}
