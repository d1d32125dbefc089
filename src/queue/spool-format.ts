/**
 * The spool file format. One file per message, written front to back in a single pass:
 *
 *   [message bytes, CRLF lines][envelope JSON][footer]
 *   footer = "SLUICE-SPOOL-1:" + message length (12 digits) + ":" + JSON length (10 digits) + "\n"
 *
 * The footer is written last, so a file without a valid footer was never acknowledged (the
 * process died mid-DATA) and is discarded on start. The message comes first so it can be
 * streamed straight from the client to disk before the envelope is final.
 */
import type { MessageFacts } from '../core/events.js';

export const FOOTER_MAGIC = 'SLUICE-SPOOL-1:';
export const FOOTER_LENGTH = FOOTER_MAGIC.length + 12 + 1 + 10 + 1;

export interface SpoolEnvelope {
  v: 1;
  mail_from: string;
  rcpts: string[];
  facts: MessageFacts;
  /**
   * Set when an upstream Sluice milter gave the message its id (facts.message_id, which then
   * differs from the spool id) and recorded its injection: no injection event is recorded here.
   */
  upstream?: true;
}

export function encodeTrailer(
  messageLength: number,
  envelope: SpoolEnvelope & { spool_id?: string },
): Buffer {
  const json = Buffer.from(JSON.stringify(envelope));
  const footer = `${FOOTER_MAGIC}${String(messageLength).padStart(12, '0')}:${String(json.length).padStart(10, '0')}\n`;
  return Buffer.concat([json, Buffer.from(footer, 'latin1')]);
}

export function decodeFooter(
  footer: Buffer,
  fileSize: number,
): { messageLength: number; jsonLength: number } | null {
  const text = footer.toString('latin1');
  const match = /^SLUICE-SPOOL-1:(\d{12}):(\d{10})\n$/.exec(text);
  if (!match) return null;
  const messageLength = Number(match[1]);
  const jsonLength = Number(match[2]);
  if (messageLength + jsonLength + FOOTER_LENGTH !== fileSize) return null;
  return { messageLength, jsonLength };
}
