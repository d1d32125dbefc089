/**
 * What follows a bounce, once its event is recorded: a hard bounce (classes 10, 30, 90) puts the
 * recipient on the suppression list (source 'Bounce Rule', of the message's type: transactional or
 * not), and the envelope sender gets one RFC 3464 DSN for the recipients that failed in this
 * attempt, spooled and queued like any message (MAIL FROM:<>). A message whose own sender is <> (a
 * DSN) never gets one; `bounces.dsn: false` turns DSNs off (events only, as SparkPost).
 */
import type { Readable } from 'node:stream';
import { newMessageId, transmissionIdFor } from '../core/ids.js';
import { suppressionTypeFor } from '../core/suppression.js';
import { isHardBounce } from '../delivery/bounce-rules.js';
import { composeDsn, dsnStatus, type FailedRecipient } from '../delivery/dsn.js';
import type { Logger } from '../log.js';
import type { SuppressionStore } from '../store/types.js';
import { acceptMessage } from './accept.js';
import { idsOf } from './log-ids.js';
import type { QueueManager } from './manager.js';
import type { BouncedRcpt } from './queue-entries.js';
import type { Spool, SpooledMessage } from './spool.js';

/** Longest original header section copied into a DSN. */
const MAX_HEADERS = 64 * 1024;

export interface BounceHandlerOptions {
  dsn: boolean;
  suppressHardBounces: boolean;
  hostname: string;
}

export class BounceHandler {
  /** Set once the queue manager exists (it is constructed with this handler's callback). */
  queue: QueueManager | null = null;

  constructor(
    private readonly spool: Spool,
    private readonly suppressions: SuppressionStore,
    private readonly log: Logger,
    /** Read at each bounce: a reload may change dsn and suppressHardBounces in place. */
    readonly options: BounceHandlerOptions,
  ) {}

  /** For QueueOptions.onBounced. */
  readonly onBounced = async (message: SpooledMessage, bounced: BouncedRcpt[]): Promise<void> => {
    if (this.options.suppressHardBounces) await this.suppress(message, bounced);
    if (this.options.dsn && message.envelope.mail_from !== '') await this.sendDsn(message, bounced);
  };

  private async suppress(message: SpooledMessage, bounced: BouncedRcpt[]): Promise<void> {
    const hard = bounced.filter(({ event }) => isHardBounce(Number(event.bounce_class)));
    if (hard.length === 0) return;
    const now = new Date().toISOString();
    const type = suppressionTypeFor(message.envelope.facts.msys.options?.transactional === true);
    await this.suppressions.put(
      hard.map(({ result, event }) => ({
        recipient: result.rcpt.toLowerCase(),
        type,
        source: 'Bounce Rule',
        description: `${event.bounce_class}: ${String(event.raw_reason ?? '').slice(0, 500)}`,
        created: now,
        updated: now,
      })),
    );
    this.log.info(
      { ...idsOf(message), rcpts: hard.map((h) => h.result.rcpt), type },
      'hard bounce: recipients suppressed',
    );
  }

  private async sendDsn(message: SpooledMessage, bounced: BouncedRcpt[]): Promise<void> {
    const { envelope } = message;
    const failed: FailedRecipient[] = bounced.map(({ result, event }) => {
      const reason = String(event.raw_reason ?? result.text);
      return {
        rcpt: result.rcpt,
        status:
          /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(reason)?.[1] ??
          dsnStatus(result.enhanced, result.code),
        diagnostic: reason,
        remoteMta: result.mxHost,
        lastAttempt: new Date(event.timestamp),
      };
    });
    const bytes = await composeDsn({
      reportingMta: this.options.hostname,
      to: envelope.mail_from,
      queueId: message.envelope.facts.message_id,
      arrival: new Date(envelope.facts.injection_time),
      failed,
      originalHeaders: await this.headersOf(message),
    });
    await this.enqueue(bytes, envelope.mail_from);
    this.log.info({ ...idsOf(message), to: envelope.mail_from, rcpts: failed.length }, 'DSN queued');
  }

  /** Spools and queues a generated message from <> to one recipient. */
  private async enqueue(bytes: Buffer, to: string): Promise<string> {
    if (!this.queue) throw new Error('bounce handler used before its queue was set');
    const now = new Date();
    const id = newMessageId(now.getTime());
    const writer = await this.spool.createWriter(id);
    try {
      await writer.write(bytes);
    } catch (error) {
      await writer.abort();
      throw error;
    }
    await acceptMessage(
      writer,
      {
        v: 1,
        mail_from: '',
        rcpts: [to],
        facts: {
          message_id: id,
          transmission_id: transmissionIdFor(id),
          msg_from: '',
          friendly_from: `MAILER-DAEMON@${this.options.hostname}`,
          subject: 'Undelivered Mail Returned to Sender',
          msg_size: bytes.length,
          injection_time: now.toISOString(),
          recv_method: 'esmtp',
          api_key_id: null,
          client_ip: '127.0.0.1',
          msys: {},
        },
      },
      { queue: this.queue },
    );
    return id;
  }

  /** The original header section (up to the blank line), at most MAX_HEADERS bytes. */
  private async headersOf(message: SpooledMessage): Promise<Buffer> {
    const source = this.spool.body(message);
    if (Buffer.isBuffer(source)) return cutHeaders(source);
    const chunks: Buffer[] = [];
    let length = 0;
    for await (const chunk of source as Readable) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= MAX_HEADERS || (chunk as Buffer).includes('\r\n\r\n')) break;
    }
    (source as Readable).destroy();
    return cutHeaders(Buffer.concat(chunks));
  }
}

function cutHeaders(bytes: Buffer): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  const cut = end >= 0 ? bytes.subarray(0, end + 2) : bytes.subarray(0, MAX_HEADERS);
  return cut.length > MAX_HEADERS ? cut.subarray(0, MAX_HEADERS) : cut;
}
