/**
 * RFC 3464 delivery status notifications, composed with nodemailer's MIME tree builder (MimeNode),
 * never by string concatenation: multipart/report; report-type=delivery-status with a human-readable
 * text/plain part, a message/delivery-status part (per-message fields, then one block per failed
 * recipient) and the original header section as text/rfc822-headers. The caller sends it with the
 * null reverse path (MAIL FROM:<>), so a DSN never causes another DSN.
 */
import MimeNode from 'nodemailer/lib/mime-node';

export interface FailedRecipient {
  rcpt: string;
  /** RFC 3463 status, e.g. 5.1.1 (4.4.7 for an expired message). */
  status: string;
  /** The peer's reply or our reason, as recorded in the bounce event's raw_reason. */
  diagnostic: string;
  /** Next hop that gave the reply, if one did. */
  remoteMta?: string | undefined;
  lastAttempt: Date;
}

export interface DsnInput {
  /** Our host name: Reporting-MTA and the From address's domain. */
  reportingMta: string;
  /** The original envelope sender: the DSN's only recipient. */
  to: string;
  queueId: string;
  arrival: Date;
  failed: FailedRecipient[];
  /** The original message's header section, as received (CRLF lines). */
  originalHeaders: Buffer;
  now?: Date;
}

/** Longest Diagnostic-Code kept; a DSN line must stay far below SMTP's 998 octets. */
const MAX_DIAGNOSTIC = 900;

export async function composeDsn(input: DsnInput): Promise<Buffer> {
  const now = input.now ?? new Date();
  const root = new MimeNode('multipart/report; report-type=delivery-status', {
    hostname: input.reportingMta,
  });
  root.setHeader('From', `Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`);
  root.setHeader('To', input.to);
  root.setHeader('Subject', 'Undelivered Mail Returned to Sender');
  root.setHeader('Date', rfc5322Date(now));
  // RFC 3834: a machine wrote this, so auto-responders must not answer it.
  root.setHeader('Auto-Submitted', 'auto-replied');

  root.createChild('text/plain').setContent(humanPart(input));
  root.createChild('message/delivery-status').setContent(statusPart(input));
  root.createChild('text/rfc822-headers').setContent(input.originalHeaders.toString('utf8'));
  return await root.build();
}

function humanPart(input: DsnInput): string {
  const lines = [
    `This is the mail system at host ${input.reportingMta}.`,
    '',
    "I'm sorry to have to inform you that your message could not be",
    'delivered to one or more recipients. The reasons are given below;',
    'the headers of the original message are attached.',
    '',
  ];
  for (const f of input.failed) lines.push(`<${f.rcpt}>: ${oneLine(f.diagnostic)}`);
  return `${lines.join('\r\n')}\r\n`;
}

function statusPart(input: DsnInput): string {
  const blocks = [
    [
      `Reporting-MTA: dns; ${input.reportingMta}`,
      `X-Sluice-Queue-ID: ${input.queueId}`,
      `Arrival-Date: ${rfc5322Date(input.arrival)}`,
    ],
  ];
  for (const f of input.failed) {
    const block = [`Final-Recipient: rfc822; ${f.rcpt}`, 'Action: failed', `Status: ${f.status}`];
    if (f.remoteMta) block.push(`Remote-MTA: dns; ${f.remoteMta}`);
    block.push(`Diagnostic-Code: smtp; ${oneLine(f.diagnostic)}`);
    block.push(`Last-Attempt-Date: ${rfc5322Date(f.lastAttempt)}`);
    blocks.push(block);
  }
  return `${blocks.map((b) => b.join('\r\n')).join('\r\n\r\n')}\r\n`;
}

/** Multi-line peer replies become one line; control characters and overlong text go. */
function oneLine(text: string): string {
  const flat = text
    .replace(/\r?\n/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .trim();
  return flat.length > MAX_DIAGNOSTIC ? `${flat.slice(0, MAX_DIAGNOSTIC)}...` : flat;
}

/** RFC 5322 date-time in UTC, e.g. "Mon, 23 Nov 2026 13:05:00 +0000". */
export function rfc5322Date(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

/** The status a DSN reports: the reply's enhanced code, else one made from its basic code. */
export function dsnStatus(enhanced: string | undefined, code: number): string {
  if (enhanced && /^[245]\.\d{1,3}\.\d{1,3}$/.test(enhanced)) return enhanced;
  return code >= 400 && code < 500 ? '4.0.0' : '5.0.0';
}
