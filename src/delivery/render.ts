/**
 * What goes on the wire for one delivery transaction, made from the spooled bytes at delivery
 * time: the tracking rewrite for that transaction's recipient (tokens name the recipient, so a
 * tracked message travels one recipient per transaction), then — last of all, since a signature
 * covers the final bytes — DKIM signing. The spool keeps the message as received, so a retry
 * renders again and a tracking key rotation never needs the spool rewritten.
 *
 * Streams stay streams: a spooled file is piped through the rewrite, never read whole (the
 * transform holds at most one text part, capped by tracking.max_html_part_size).
 */
import { type Readable, Transform } from 'node:stream';
import type { MessageFacts } from '../core/events.js';
import type { Logger } from '../log.js';
import { type TrackingResult, TrackingTransform } from '../tracking/mime.js';
import type { TokenSigner } from '../tracking/token.js';
import type { DkimSigner } from './dkim.js';

export interface RenderOptions {
  baseUrl: string;
  signer: TokenSigner;
  maxPartSize: number;
}

/** True when the settled options (see core/tracking-decision) ask for any tracking. */
export function wantsTracking(facts: MessageFacts): boolean {
  const options = facts.msys.options;
  return options?.open_tracking === true || options?.click_tracking === true;
}

export class MessageRenderer {
  constructor(
    private tracking: RenderOptions,
    private readonly log: Logger,
    /** Signs last, over the bytes exactly as they go on the wire (delivery.dkim). */
    private dkim: DkimSigner | null = null,
  ) {}

  /** A reload: tracking base URL, part size limit and DKIM keys for the messages rendered next. */
  reconfigure(tracking: RenderOptions, dkim: DkimSigner | null): void {
    this.tracking = tracking;
    this.dkim = dkim;
  }

  /**
   * The bytes for `rcpts` of this message. Tracking applies only to a transaction of one
   * recipient; the queue manager splits tracked messages so that is always the case.
   */
  render(
    facts: MessageFacts,
    rcpts: readonly string[],
    source: Buffer | Readable,
    onResult?: (result: TrackingResult) => void,
  ): Buffer | Readable {
    const tracked = this.track(facts, rcpts, source, onResult);
    return this.dkim ? this.dkim.stage(tracked) : tracked;
  }

  private track(
    facts: MessageFacts,
    rcpts: readonly string[],
    source: Buffer | Readable,
    onResult?: (result: TrackingResult) => void,
  ): Buffer | Readable {
    if (!wantsTracking(facts) || rcpts.length !== 1) return source;
    const transform = new TrackingTransform({
      open: facts.msys.options?.open_tracking === true,
      click: facts.msys.options?.click_tracking === true,
      baseUrl: this.tracking.baseUrl,
      signer: this.tracking.signer,
      messageId: facts.message_id,
      rcpt: rcpts[0]!.toLowerCase(),
      maxPartSize: this.tracking.maxPartSize,
    });
    const done = () => {
      this.report(facts, rcpts[0]!, transform.result);
      onResult?.(transform.result);
    };
    if (Buffer.isBuffer(source)) {
      const out = Buffer.concat([...transform.push(source), ...transform.end()]);
      done();
      return out;
    }
    const stream = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        try {
          for (const piece of transform.push(chunk)) this.push(piece);
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
      flush(callback) {
        try {
          for (const piece of transform.end()) this.push(piece);
          done();
          callback();
        } catch (error) {
          callback(error as Error);
        }
      },
    });
    source.on('error', (error) => stream.destroy(error));
    return source.pipe(stream);
  }

  /** Why a message went out (partly) untracked is worth a log line; silence would hide it. */
  private report(facts: MessageFacts, rcpt: string, result: TrackingResult): void {
    if (result.reasons.length === 0) return;
    this.log.info(
      { message_id: facts.message_id, rcpt, tracked: result.tracked, reasons: result.reasons },
      'tracking left part of the message untouched',
    );
  }
}
