/**
 * Spools a message a door already holds whole in memory (the HTTP API builds each transmission
 * message itself): the bytes pass through the same MessageIntake as SMTP DATA (CRLF, limits,
 * X-MSYS-API taken out), are written to a spool file and handed to acceptMessage, which fsyncs,
 * records the injection events and queues it. Resolves only once the message is durable.
 */
import type { Config } from '../config/schema.js';
import type { MessageFacts } from '../core/events.js';
import { MessageIntake } from '../core/intake.js';
import { Rejection } from '../core/reply.js';
import type { MsysApi } from '../core/smtpapi.js';
import { acceptMessage } from './accept.js';
import type { QueueManager } from './manager.js';
import type { Spool, SpoolWriter } from './spool.js';

export interface InjectDeps {
  config: Config;
  spool: Spool;
  queue: Pick<QueueManager, 'add' | 'recordEvents'>;
}

export interface WholeMessage {
  /** Prepended before the header section (a Received trace field). */
  trace: Buffer;
  bytes: Buffer;
  mailFrom: string;
  rcpts: string[];
  /** Facts but what the intake learns from the header (subject, from, size). */
  facts: Omit<MessageFacts, 'friendly_from' | 'subject' | 'msg_size' | 'msys'>;
  /** Merges the message's own X-MSYS-API (if any) with the caller's options. */
  msys(fromHeader: MsysApi): MsysApi;
  /**
   * Once the message's facts are known (its X-MSYS-API read), the recipients to accept (a door
   * drops suppressed ones here); a Rejection refuses the message. Absent: all of `rcpts`.
   */
  acceptRcpts?(facts: MessageFacts): Promise<string[]>;
}

export async function injectWhole(message: WholeMessage, deps: InjectDeps): Promise<MessageFacts> {
  const { smtp } = deps.config;
  const intake = new MessageIntake(
    { maxHeaderSize: smtp.max_header_size, maxLineLength: smtp.max_line_length },
    message.trace,
  );
  if (message.bytes.length > smtp.max_message_size)
    throw new Rejection(552, '5.3.4', `Message size exceeds fixed limit of ${smtp.max_message_size} bytes`);
  let writer: SpoolWriter | null = null;
  try {
    // Intake first: a refusal (NUL, line too long) costs no file.
    const pieces = intake.push(message.bytes);
    const { tail, result } = intake.end();
    writer = await deps.spool.createWriter(message.facts.message_id);
    for (const piece of [...pieces, ...tail]) await writer.write(piece);
    const facts: MessageFacts = {
      ...message.facts,
      friendly_from: result.from,
      subject: result.subject,
      msg_size: result.size,
      msys: message.msys(result.msys),
    };
    const rcpts = message.acceptRcpts ? await message.acceptRcpts(facts) : message.rcpts;
    await acceptMessage(writer, { v: 1, mail_from: message.mailFrom, rcpts, facts }, deps);
    return facts;
  } catch (error) {
    if (writer) await writer.abort().catch(() => {});
    throw error;
  }
}
