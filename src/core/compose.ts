/**
 * Builds the message for each recipient of a transmission (SparkPost's content shapes) with
 * nodemailer's MIME composer: from, subject, text, html, amp_html (a text/x-amp-html part),
 * reply_to, headers, attachments and inline images (referenced from HTML as cid:NAME), or the
 * caller's own email_rfc822 (rfc822-template.ts). Every text field is a template of SparkPost's
 * language (core/template), compiled once when the composer is built (a syntax error throws
 * TemplateError 'compiling', the API's 422) and rendered per recipient (a TemplateError
 * 'rendering' is that recipient's generation_failure). With inline_css, the rendered HTML's
 * <style> rules are inlined (juice).
 *
 * The MIME composer is slow (about a millisecond a message), so a transmission composes each
 * distinct rendering once and gives every recipient that shares it the same bytes under its own
 * To and Message-ID; only personalised content costs a compose per recipient.
 */
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type Juice from 'juice';
import MailComposer from 'nodemailer/lib/mail-composer';
import { decodeMimeWords, encodeMimeWords } from './mime-words.js';
import { Rfc822Template } from './rfc822-template.js';
import { type CompiledPart, compilePart, type RenderData, TemplateError } from './template/index.js';

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
  /** An address, "Name <address>", or {email, name}; templates allowed in each. */
  from: string | AddressInput;
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
  amp_html?: string | undefined;
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

export interface ComposeOptions {
  /** SparkPost's options.inline_css: move <style> rules of the HTML into style attributes. */
  inlineCss?: boolean;
}

/**
 * Header names content.headers may not set: the composer writes them (From, To, Subject,
 * Reply-To come from their own fields; SparkPost refuses Content-Type and its kin too).
 */
export const RESERVED_HEADERS = new Set([
  'from',
  'to',
  'subject',
  'reply-to',
  'message-id',
  'date',
  'mime-version',
  'content-type',
  'content-transfer-encoding',
]);
/** juice (and cheerio under it) takes a second or more to load: only when inline_css asks for it. */
let juice: typeof Juice | null = null;
const loadJuice = (): typeof Juice => {
  juice ??= createRequire(import.meta.url)('juice') as typeof Juice;
  return juice;
};

/** Distinct renderings kept per transmission: enough for shared content, bounded for personalised. */
const KEEP = 4;
const EMAIL = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+$/;

/** The From address of content whose from holds no template (the envelope sender's default). */
export function fromAddress(content: TransmissionContent): string | null {
  if ('email_rfc822' in content) return null;
  const from =
    typeof content.from === 'string' ? parseMailbox(content.from) : { address: content.from.email };
  return from?.address ?? null;
}

/** "Name <a@b>", "<a@b>" or "a@b" → its parts; null when there is no single plain address. */
export function parseMailbox(value: string): { address: string; name: string } | null {
  const trimmed = value.trim();
  const angle = /^(?:"((?:[^"\\]|\\.)*)"|([^<>"]*?))\s*<([^<>\s]+)>$/.exec(trimmed);
  const address = angle ? angle[3]! : trimmed;
  if (!EMAIL.test(address)) return null;
  const name = angle ? (angle[1]?.replace(/\\(.)/g, '$1') ?? angle[2] ?? '').trim() : '';
  return { address, name };
}

interface Parts {
  from: { email: CompiledPart; name: CompiledPart | null } | CompiledPart;
  subject: CompiledPart;
  text: CompiledPart | null;
  html: CompiledPart | null;
  amp: CompiledPart | null;
  replyTo: CompiledPart | null;
  headers: [string, CompiledPart][];
}

interface Rendered {
  from: { address: string; name: string };
  subject: string;
  text: string | undefined;
  html: string | undefined;
  amp: string | undefined;
  replyTo: string | undefined;
  headers: Record<string, string>;
}

export interface Composed {
  bytes: Buffer;
  /** The rendered From address: the envelope sender when no return_path says otherwise. */
  from: string | null;
}

export class TransmissionComposer {
  private readonly bodies = new Map<string, Promise<Buffer>>();
  private readonly parts: Parts | null;
  private readonly rfc822: Rfc822Template | null;

  /** Compiles every part; throws TemplateError ('compiling') naming the part and line. */
  constructor(
    private readonly content: TransmissionContent,
    private readonly options: ComposeOptions = {},
  ) {
    if ('email_rfc822' in content) {
      this.rfc822 = new Rfc822Template(content.email_rfc822);
      this.parts = null;
      return;
    }
    this.rfc822 = null;
    this.parts = compileParts(content);
  }

  /** The message for one recipient; `messageId` makes its Message-ID unique. */
  async compose(recipient: ComposeRecipient, data: RenderData, messageId: string): Promise<Composed> {
    if (this.rfc822) {
      const bytes = this.rfc822.render(data);
      return { bytes, from: headerFrom(bytes) };
    }
    const content = this.content as InlineContent;
    const rendered = render(this.parts!, data, this.options);
    const key = JSON.stringify(rendered);
    let body = this.bodies.get(key);
    if (!body) {
      body = build(content, rendered);
      if (this.bodies.size >= KEEP) this.bodies.delete(this.bodies.keys().next().value!);
      this.bodies.set(key, body);
    }
    const domain = rendered.from.address.slice(rendered.from.address.lastIndexOf('@') + 1) || 'localhost';
    const own = `To: ${toHeader(recipient)}\r\nMessage-ID: <${messageId}.${randomBytes(4).toString('hex')}@${domain}>\r\n`;
    return { bytes: Buffer.concat([Buffer.from(own, 'utf8'), await body]), from: rendered.from.address };
  }
}

function compileParts(content: InlineContent): Parts {
  const header = (source: string, name: string) => compilePart(source, 'header', `Header:${name}`);
  const optional = (source: string | undefined, make: (s: string) => CompiledPart) =>
    source === undefined ? null : make(source);
  const headers: [string, CompiledPart][] = [];
  for (const [name, value] of Object.entries(content.headers ?? {})) {
    if (RESERVED_HEADERS.has(name.toLowerCase()))
      throw new TemplateError('compiling', `Header:${name}`, 1, `${name} cannot be set through headers`);
    headers.push([name, header(value, name)]);
  }
  return {
    from:
      typeof content.from === 'string'
        ? header(content.from, 'From')
        : {
            email: header(content.from.email, 'From'),
            name: optional(content.from.name, (s) => header(s, 'From')),
          },
    subject: header(content.subject, 'Subject'),
    text: optional(content.text, (s) => compilePart(s, 'text', 'text')),
    html: optional(content.html, (s) => compilePart(s, 'html', 'html')),
    amp: optional(content.amp_html, (s) => compilePart(s, 'amp_html', 'amp_html')),
    replyTo: optional(content.reply_to, (s) => header(s, 'Reply-To')),
    headers,
  };
}

function render(parts: Parts, data: RenderData, options: ComposeOptions): Rendered {
  const headers: Record<string, string> = {};
  for (const [name, part] of parts.headers) headers[name] = oneLine(part.render(data));
  let html = parts.html?.render(data);
  if (html !== undefined && options.inlineCss) {
    try {
      html = loadJuice()(html);
    } catch (error) {
      throw new TemplateError('rendering', 'html', 1, `inline_css failed: ${(error as Error).message}`);
    }
  }
  return {
    from: renderFrom(parts.from, data),
    subject: oneLine(parts.subject.render(data)),
    text: parts.text?.render(data),
    html,
    amp: parts.amp?.render(data),
    replyTo: parts.replyTo ? oneLine(parts.replyTo.render(data)) : undefined,
    headers,
  };
}

function renderFrom(from: Parts['from'], data: RenderData): Rendered['from'] {
  if ('render' in from) {
    const text = oneLine(from.render(data));
    const mailbox = parseMailbox(text);
    if (!mailbox) throw new TemplateError('rendering', 'Header:From', 1, `not an email address: '${text}'`);
    return mailbox;
  }
  const address = oneLine(from.email.render(data)).trim();
  if (!EMAIL.test(address))
    throw new TemplateError('rendering', 'Header:From', 1, `not an email address: '${address}'`);
  return { address, name: from.name ? oneLine(from.name.render(data)) : '' };
}

/** The address of a whole message's From field (the envelope sender's default), or null. */
function headerFrom(bytes: Buffer): string | null {
  const head = bytes
    .toString('utf8', 0, Math.min(bytes.length, 65_536))
    .replace(/\r\n/g, '\n')
    .split('\n\n')[0]!;
  const field = /^From:[ \t]*(.*(?:\n[ \t].*)*)/im.exec(head);
  if (!field) return null;
  return parseMailbox(decodeMimeWords(field[1]!.replace(/\n[ \t]+/g, ' ')))?.address ?? null;
}

/** A header value never carries a line break, whatever the data held. */
function oneLine(value: string): string {
  return value.replace(/[\r\n]+/g, ' ');
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
    from: rendered.from,
    subject: rendered.subject,
    text: rendered.text,
    html: rendered.html,
    amp: rendered.amp,
    replyTo: rendered.replyTo,
    headers: rendered.headers,
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
  return `${encodeMimeWords(name)} <${email}>`;
}
