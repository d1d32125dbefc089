/**
 * Generates a transmission's messages for a run of recipients: each recipient's message is
 * rendered with its data (reserved variables, then its substitution_data and metadata, then the
 * transmission's), passed through the same intake, spool and acceptance as SMTP mail, and queued.
 * A recipient is not generated when it is suppressed (generation_rejection, as SparkPost's REST
 * injection), when its data breaks the template (generation_failure naming part and line), or when
 * the intake refuses the rendered message (policy_rejection, as at the SMTP door); the others are
 * still sent. Messages are queued, and their events written together, once the run is spooled.
 *
 * A scheduled run passes its own message ids (from the transmission and the recipient's index):
 * when an interrupted generation resumes, a recipient whose message id already left a trace
 * (a spool file or an event) was generated before the interruption and is skipped, not sent twice.
 */
import type { Config } from '../config/schema.js';
import {
  generationFailureEvent,
  generationRejectionEvent,
  type MessageFacts,
  policyRejectionEvent,
  type SluiceEvent,
} from '../core/events.js';
import { newMessageId } from '../core/ids.js';
import { Rejection } from '../core/reply.js';
import type { MsysApi } from '../core/smtpapi.js';
import { findSuppression, suppressedRejection } from '../core/suppression.js';
import { TemplateError } from '../core/template/index.js';
import type { Logger } from '../log.js';
import { injectWhole } from '../queue/inject.js';
import type { QueueManager } from '../queue/manager.js';
import type { Spool, SpooledMessage } from '../queue/spool.js';
import { rfc5322Date } from '../smtp/received.js';
import type { EventStore, SuppressionStore } from '../store/types.js';
import type { Plan, RecipientInput } from './plan.js';

/** Messages spooled at once: enough to share directory fsyncs, bounded memory. */
const PARALLEL = 64;

export interface GenerateDeps {
  config: Config;
  hostname: string;
  spool: Spool;
  queue: Pick<QueueManager, 'add' | 'recordEvents'>;
  events: EventStore;
  suppressions: SuppressionStore;
  log: Logger;
}

export interface RcptError {
  message: string;
  code: string;
  description: string;
}

export interface Generated {
  /** Messages spooled (or found spooled by an interrupted run). */
  generated: number;
  /** Recipients not generated: suppressed, rendering failed, or refused by the intake. */
  failed: number;
  errors: RcptError[];
}

export interface RunIds {
  /** The message id of the recipient at `index` of the whole transmission. */
  messageId(index: number): string;
  /** Index of the first recipient of this run. */
  first: number;
  /** Whether a message with this id was already generated (checked only when resuming). */
  alreadyGenerated?: (messageId: string) => Promise<boolean>;
}

export async function generate(
  plan: Plan,
  recipients: readonly RecipientInput[],
  deps: GenerateDeps,
  ids: RunIds | null = null,
): Promise<Generated> {
  const now = new Date();
  const transactional = plan.options.transactional === true;
  const result: Generated = { generated: 0, failed: 0, errors: [] };
  // Durable messages are queued once the whole run is in, so on a small machine the first
  // deliveries do not compete with spooling the rest. Their injection events are written together
  // too: one transaction instead of one per message.
  const ready: SpooledMessage[] = [];
  const recorded: SluiceEvent[] = [];
  const held = {
    add: (message: SpooledMessage) => ready.push(message),
    recordEvents: async (events: readonly SluiceEvent[]) => {
      recorded.push(...events);
    },
  };

  const one = async (recipient: RecipientInput, index: number) => {
    const address = typeof recipient.address === 'string' ? { email: recipient.address } : recipient.address;
    const messageId = ids ? ids.messageId(ids.first + index) : newMessageId(now.getTime());
    if (ids?.alreadyGenerated && (await ids.alreadyGenerated(messageId))) {
      result.generated++;
      return;
    }
    const envFrom = recipient.return_path ?? plan.return_path ?? plan.from ?? '';
    const msys: MsysApi = {
      ...(plan.campaign_id !== undefined ? { campaign_id: plan.campaign_id } : {}),
      metadata: { ...plan.metadata, ...recipient.metadata },
      tags: recipient.tags ?? [],
      options: plan.options,
    };
    const facts = {
      message_id: messageId,
      transmission_id: plan.id,
      msg_from: envFrom,
      injection_time: now.toISOString(),
      recv_method: 'rest' as const,
      api_key_id: plan.apiKeyId,
      client_ip: plan.clientIp,
      ...(plan.template ? { template_id: plan.template.id, template_version: plan.template.version } : {}),
    };
    const known = (): MessageFacts => ({ ...facts, friendly_from: '', subject: '', msg_size: 0, msys });
    const fail = (event: SluiceEvent, error: RcptError) => {
      recorded.push(event);
      result.failed++;
      result.errors.push(error);
    };
    if (await findSuppression(deps.suppressions, address.email, transactional)) {
      const refusal = suppressedRejection(address.email);
      return fail(generationRejectionEvent(known(), address.email, refusal, now), {
        message: 'recipient rejected',
        code: String(refusal.code),
        description: `${address.email}: ${refusal.text}`,
      });
    }
    try {
      const composed = await plan.composer.compose(
        { email: address.email, name: address.name, headerTo: address.header_to },
        {
          reserved: {
            address: { ...address },
            email: address.email,
            email_id: address.email,
            env_from: envFrom,
            return_path: envFrom,
          },
          scopes: [recipient.substitution_data, recipient.metadata, plan.substitution_data, plan.metadata],
          dynamic: plan.substitution_data,
        },
        messageId,
      );
      const mailFrom = recipient.return_path ?? plan.return_path ?? composed.from;
      // Never the null sender: that is for bounces, and nothing could bounce back to the sender.
      if (!mailFrom)
        throw new TemplateError(
          'rendering',
          'Header:From',
          1,
          'no return_path, and no From address to send from',
        );
      const trace = Buffer.from(
        `Received: from [${plan.clientIp}]\r\n\tby ${deps.hostname} (Sluice) with HTTP id ${messageId}\r\n\tfor <${address.email}>;\r\n\t${rfc5322Date(now)}\r\n`,
      );
      await injectWhole(
        {
          trace,
          bytes: composed.bytes,
          mailFrom,
          rcpts: [address.email],
          facts: { ...facts, msg_from: mailFrom },
          msys: (header) => ({ ...header, ...msys }),
        },
        { ...deps, queue: held },
      );
      result.generated++;
    } catch (error) {
      if (error instanceof TemplateError) {
        const subs = recipient.substitution_data ?? {};
        return fail(generationFailureEvent(known(), address.email, error.message, subs, now), {
          message: 'generation failure',
          code: '3000',
          description: `${address.email}: ${error.message}`,
        });
      }
      if (!(error instanceof Rejection)) throw error;
      fail(policyRejectionEvent(known(), address.email, error, now), {
        message: 'recipient rejected',
        code: String(error.code),
        description: `${address.email}: ${error.text}`,
      });
    }
  };

  // Bounded parallelism: messages share directory fsyncs without holding every body at once.
  let next = 0;
  const workers = Array.from({ length: Math.min(PARALLEL, recipients.length) }, async () => {
    while (next < recipients.length) {
      const index = next++;
      await one(recipients[index]!, index);
    }
  });
  try {
    await Promise.all(workers);
  } finally {
    deps.events.appendMany(recorded);
    for (const message of ready) deps.queue.add(message);
  }
  return result;
}
