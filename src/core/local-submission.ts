/**
 * The rules of local submission (`sluice sendmail`, as Postfix's sendmail → pickup → cleanup):
 *  - the envelope sender is -f's, else the submitting user at the local origin (smtp.hostname);
 *    an address without a domain is qualified with that origin, as Postfix's append_at_myorigin;
 *  - -t takes the recipients from To, Cc and Bcc (Resent-To, Resent-Cc and Resent-Bcc instead
 *    when the message has Resent- headers) in addition to those given as arguments;
 *  - Bcc (and Resent-Bcc) fields are removed, whatever -t says;
 *  - a message without From gets "From: Full Name <sender>" (the name from -F), one without Date
 *    a Date, one without Message-ID a Message-ID, as Postfix's cleanup does for local mail.
 * Works on the header section only; the body is never looked at. Pure: no I/O.
 */
import { randomBytes } from 'node:crypto';
import addressparser from 'nodemailer/lib/addressparser';
import { Rejection } from './reply.js';

export interface LocalEnvelopeRequest {
  /** -f / -r; null: the submitting user. */
  sender: string | null;
  /** Recipients given as arguments. */
  recipients: string[];
  /** -t */
  extract: boolean;
  /** -F; null: none. */
  fullName: string | null;
}

export interface LocalSubmission {
  mailFrom: string;
  rcpts: string[];
  /** The message with Bcc removed and missing From, Date and Message-ID added (CRLF lines). */
  message: Buffer;
}

const ADDRESS = /^[^\s<>()[\]\\,;:"@]+(@[^\s<>()[\]\\,;:"@]+)?$/;

export function prepareLocalSubmission(
  raw: Buffer,
  request: LocalEnvelopeRequest,
  user: string,
  origin: string,
  now: Date,
): LocalSubmission {
  const text = raw.toString('latin1');
  const split = /\r?\n\r?\n/.exec(text);
  const headEnd = split ? split.index : text.length;
  const head = text.slice(0, headEnd);
  const rest = split ? text.slice(headEnd) : '\r\n\r\n';
  const fields = parseFields(head);
  // A message that does not start with a header field is all body: the fields added go before it.
  const isHeader = fields.length > 0 && fields.every((f) => f.name !== '');

  const qualify = (address: string) => (address.includes('@') ? address : `${address}@${origin}`);
  const mailFrom =
    request.sender === null ? qualify(user) : request.sender === '' ? '' : qualify(request.sender);
  if (mailFrom !== '' && !ADDRESS.test(mailFrom))
    throw new Rejection(553, '5.1.7', `Bad sender address syntax: ${printable(mailFrom)}`);

  const rcpts: string[] = [];
  const add = (address: string) => {
    const clean = address.trim();
    if (clean === '') return;
    if (!ADDRESS.test(clean))
      throw new Rejection(553, '5.1.3', `Bad recipient address syntax: ${printable(clean)}`);
    const qualified = qualify(clean);
    if (!rcpts.some((r) => r.toLowerCase() === qualified.toLowerCase())) rcpts.push(qualified);
  };
  for (const recipient of request.recipients) for (const address of listOf(recipient)) add(address);
  if (request.extract && isHeader) {
    const resent = fields.some((f) => /^resent-(to|cc|bcc)$/i.test(f.name));
    const wanted = resent ? /^resent-(to|cc|bcc)$/i : /^(to|cc|bcc)$/i;
    for (const field of fields)
      if (wanted.test(field.name)) for (const address of listOf(field.value)) add(address);
  }
  if (rcpts.length === 0)
    throw new Rejection(554, '5.5.1', 'No recipients (give addresses, or -t with To, Cc or Bcc)');

  const kept = isHeader ? fields.filter((f) => !/^(resent-)?bcc$/i.test(f.name)) : [];
  const has = (name: string) => kept.some((f) => f.name.toLowerCase() === name);
  const added: string[] = [];
  if (!has('from')) {
    const name = request.fullName?.replace(/[\r\n]+/g, ' ').trim();
    added.push(`From: ${name ? `${quoteName(name)} ` : ''}<${mailFrom}>`);
  }
  if (!has('date')) added.push(`Date: ${now.toUTCString().replace(/GMT$/, '+0000')}`);
  if (!has('message-id'))
    added.push(`Message-ID: <${now.getTime().toString(36)}.${randomBytes(6).toString('hex')}@${origin}>`);
  const headLines = [...kept.map((f) => f.raw), ...added].join('\r\n');
  const message = isHeader
    ? Buffer.from(`${headLines}${rest}`, 'latin1')
    : Buffer.concat([Buffer.from(`${headLines}\r\n\r\n`, 'latin1'), raw]);
  return { mailFrom, rcpts, message };
}

interface Field {
  /** '' when the line is not a header field. */
  name: string;
  /** Unfolded value. */
  value: string;
  /** The field as it came, continuation lines included. */
  raw: string;
}

function parseFields(head: string): Field[] {
  const fields: Field[] = [];
  if (head === '') return fields;
  for (const line of head.split(/\r?\n/)) {
    const last = fields[fields.length - 1];
    if (/^[ \t]/.test(line) && last) {
      last.raw += `\r\n${line}`;
      last.value += ` ${line.trim()}`;
      continue;
    }
    const match = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/.exec(line);
    fields.push(
      match ? { name: match[1]!, value: match[2]!.trim(), raw: line } : { name: '', value: '', raw: line },
    );
  }
  return fields;
}

/** The addresses of an address list (groups flattened); a bare word stays a local part. */
function listOf(value: string): string[] {
  const out: string[] = [];
  const walk = (entries: ReturnType<typeof addressparser>) => {
    for (const entry of entries) {
      if ('group' in entry && Array.isArray(entry.group)) walk(entry.group);
      else if ('address' in entry && entry.address) out.push(entry.address);
      // A bare local part ("root", as cron writes it) is read as a name: it is the address.
      else if (entry.name && /^[^\s@<>()",;:]+$/.test(entry.name)) out.push(entry.name);
    }
  };
  walk(addressparser(Buffer.from(value, 'latin1').toString('utf8')));
  return out;
}

function quoteName(name: string): string {
  return /^[\w !#$%&'*+\-/=?^`{|}~.]+$/.test(name) && !name.includes('.')
    ? name
    : `"${name.replace(/["\\]/g, '\\$&')}"`;
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
}
