/**
 * Builds the message for each recipient of a transmission (SparkPost's content shapes) with
 * nodemailer's MIME composer: from, subject, text, html, reply_to, headers, attachments and
 * inline images (referenced from HTML as cid:NAME), or the caller's own email_rfc822. Substitution
 * data is applied to every text field first. The composer is slow (about a millisecond a message),
 * so a transmission composes each distinct rendering once and gives every recipient that shares
 * it the same bytes under its own To and Message-ID; only personalised content costs a compose
 * per recipient.
 */
import { randomBytes } from 'node:crypto';
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

/** Headers the caller may not set through content.headers: the composer owns them. */
const HEADERS_WE_SET = new Set(['from', 'to', 'subject', 'reply-to', 'message-id', 'date', 'mime-version']);
/** Distinct renderings kept per transmission: enough for shared content, bounded for personalised. */
const KEEP = 4;

/** The envelope sender's default: content.from's address (SparkPost uses it when no return_path). */
export function fromAddress(content: TransmissionContent): string | null {
  if ('email_rfc822' in content) return null;
  return typeof content.from === 'string' ? content.from : content.from.email;
}

interface Rendered {
  from: { address: string; name: string };
  subject: string | undefined;
  text: string | undefined;
  html: string | undefined;
  replyTo: string | undefined;
  headers: Record<string, string>;
}

export class TransmissionComposer {
  private readonly bodies = new Map<string, Promise<Buffer>>();
  private readonly domain: string;

  constructor(private readonly content: TransmissionContent) {
    const from = fromAddress(content) ?? 'localhost';
    this.domain = from.slice(from.lastIndexOf('@') + 1) || 'localhost';
  }

  /** The message for one recipient; `messageId` makes its Message-ID unique. */
  async compose(recipient: ComposeRecipient, scopes: (SubstitutionData | undefined)[], messageId: string) {
    const content = this.content;
    if ('email_rfc822' in content) return Buffer.from(substitute(content.email_rfc822, scopes), 'utf8');
    const rendered = render(content, scopes);
    const key = JSON.stringify(rendered);
    let body = this.bodies.get(key);
    if (!body) {
      body = build(content, rendered);
      if (this.bodies.size >= KEEP) this.bodies.delete(this.bodies.keys().next().value!);
      this.bodies.set(key, body);
    }
    const own = `To: ${toHeader(recipient)}\r\nMessage-ID: <${messageId}.${randomBytes(4).toString('hex')}@${this.domain}>\r\n`;
    return Buffer.concat([Buffer.from(own, 'utf8'), await body]);
  }
}

function render(content: InlineContent, scopes: (SubstitutionData | undefined)[]): Rendered {
  const sub = (s: string | undefined) => (s === undefined ? undefined : substitute(s, scopes));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(content.headers ?? {}))
    if (!HEADERS_WE_SET.has(name.toLowerCase())) headers[name] = sub(value)!;
  return {
    from:
      typeof content.from === 'string'
        ? { address: content.from, name: '' }
        : { address: content.from.email, name: sub(content.from.name) ?? '' },
    subject: sub(content.subject),
    text: sub(content.text),
    html: content.html === undefined ? undefined : substitute(content.html, scopes, 'html'),
    replyTo: sub(content.reply_to),
    headers,
  };
}

/** Everything but To and Message-ID, which differ per recipient. */
async function build(content: InlineContent, rendered: Rendered): Promise<Buffer> {
  const files = (list: FileInput[] | undefined, inline: boolean) =>
    (list ?? []).map((file) => ({
      filename: file.name,
      contentType: file.type,
      content: file.data.replace(/\s+/g, ''),
      encoding: 'base64',
      ...(inline ? { cid: file.name, contentDisposition: 'inline' as const } : {}),
    }));
  const mail = new MailComposer({
    ...rendered,
    messageId: '<sluice-placeholder>',
    attachments: [...files(content.attachments, false), ...files(content.inline_images, true)],
  });
  const bytes = await mail.compile().build();
  return Buffer.from(bytes.toString('utf8').replace(/^Message-ID: <sluice-placeholder>\r?\n/m, ''), 'utf8');
}

/** The To field: `"Name" <addr>` (RFC 2047 encoded when not plain ASCII) or the caller's header_to. */
export function toHeader(recipient: ComposeRecipient): string {
  const clean = (s: string) => s.replace(/[\r\n]+/g, ' ').trim();
  if (recipient.headerTo) return clean(recipient.headerTo);
  const email = clean(recipient.email);
  const name = recipient.name ? clean(recipient.name) : '';
  if (!name) return email;
  if (/^[\x20-\x7e]*$/.test(name)) return `"${name.replace(/(["\\])/g, '\\$1')}" <${email}>`;
  return `${encodeWords(name)} <${email}>`;
}

/** RFC 2047 B-encoding in words of at most 75 characters, never splitting a character. */
function encodeWords(text: string): string {
  const words: string[] = [];
  let chunk = '';
  for (const char of text) {
    if (Buffer.byteLength(chunk + char) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += char;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w, 'utf8').toString('base64')}?=`).join(' ');
}
