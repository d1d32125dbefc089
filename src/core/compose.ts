/**
 * Builds the message for one recipient of a transmission (SparkPost's content shapes) with
 * nodemailer's MIME composer: from, subject, text, html, reply_to, headers, attachments and
 * inline images (referenced from HTML as cid:NAME), or the caller's own email_rfc822. Substitution
 * data is applied to every text field first. The result is raw bytes for the spool intake.
 */
import MailComposer from 'nodemailer/lib/mail-composer';
import { type SubstitutionData, substitute } from './substitution.js';

export interface AddressInput {
  email: string;
  name?: string | undefined;
}

export interface FileInput {
  name: string;
  type: string;
  data: string;
}

export interface InlineContent {
  from: string | AddressInput;
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
  reply_to?: string | undefined;
  headers?: Record<string, string> | undefined;
  attachments?: FileInput[] | undefined;
  inline_images?: FileInput[] | undefined;
}

export type TransmissionContent = InlineContent | { email_rfc822: string };

export interface ComposeRecipient {
  email: string;
  name?: string | undefined;
  /** SparkPost's header_to: what the To header shows instead of the recipient (cc/bcc copies). */
  headerTo?: string | undefined;
}

const HEADERS_WE_SET = new Set(['from', 'to', 'subject', 'reply-to']);

/** The envelope sender's default: content.from's address (SparkPost uses it when no return_path). */
export function fromAddress(content: TransmissionContent): string | null {
  if ('email_rfc822' in content) return null;
  return typeof content.from === 'string' ? content.from : content.from.email;
}

export async function composeMessage(
  content: TransmissionContent,
  recipient: ComposeRecipient,
  scopes: (SubstitutionData | undefined)[],
): Promise<Buffer> {
  if ('email_rfc822' in content) return Buffer.from(substitute(content.email_rfc822, scopes), 'utf8');
  const sub = (s: string | undefined) => (s === undefined ? undefined : substitute(s, scopes));
  const from =
    typeof content.from === 'string'
      ? { address: content.from, name: '' }
      : { address: content.from.email, name: sub(content.from.name) ?? '' };
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(content.headers ?? {}))
    if (!HEADERS_WE_SET.has(name.toLowerCase())) headers[name] = sub(value)!;
  const files = (list: FileInput[] | undefined, inline: boolean) =>
    (list ?? []).map((file) => ({
      filename: file.name,
      contentType: file.type,
      content: file.data.replace(/\s+/g, ''),
      encoding: 'base64',
      ...(inline ? { cid: file.name, contentDisposition: 'inline' as const } : {}),
    }));
  const to =
    recipient.headerTo ??
    (recipient.name ? { name: recipient.name, address: recipient.email } : recipient.email);
  const mail = new MailComposer({
    from,
    to,
    subject: sub(content.subject),
    text: sub(content.text),
    html: content.html === undefined ? undefined : substitute(content.html, scopes, 'html'),
    replyTo: sub(content.reply_to),
    headers,
    attachments: [...files(content.attachments, false), ...files(content.inline_images, true)],
  });
  return await mail.compile().build();
}
