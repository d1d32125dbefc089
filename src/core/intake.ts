/**
 * MessageIntake: the streaming pass every incoming message goes through before it is spooled,
 * whatever door it came in by. It
 *  - normalises line ends to CRLF (a bare LF becomes CRLF; nothing downstream sees mixed endings),
 *  - refuses NUL bytes, over-long lines and an over-large header section (clear Rejections),
 *  - reads the header section, takes X-MSYS-API out (validated by core/smtpapi) and notes
 *    Subject and From for events,
 *  - believes X-Sluice-Message-ID (an upstream Sluice milter's id) only when the caller says the
 *    client is a trusted relay and its X-Sluice-Message-Signature verifies (core/upstream-id.ts):
 *    the id is then kept (and noted), the signature removed; otherwise both are removed, so a
 *    header nobody vouches for never travels on,
 *  - passes the body through untouched, chunk by chunk, never holding the whole message.
 * push() and end() return the bytes to store; a Rejection thrown from either ends the message.
 */

import { addressOf, decodeMimeWords } from './mime-words.js';
import { Rejection } from './reply.js';
import { MSYS_HEADER, type MsysApi, parseMsysApi } from './smtpapi.js';
import { UPSTREAM_ID_HEADER, UPSTREAM_SIGNATURE_HEADER, type UpstreamIdSigner } from './upstream-id.js';

export interface IntakeLimits {
  maxHeaderSize: number;
  maxLineLength: number;
}

export interface IntakeResult {
  msys: MsysApi;
  subject: string;
  from: string;
  /** The message id an upstream Sluice (its milter) gave it, from a verified X-Sluice-Message-ID; null if none. */
  upstreamId: string | null;
  /** Why an X-Sluice-Message-ID the message carried was not believed (and removed); null if none was. */
  upstreamRefused: string | null;
  /** Bytes handed out by push()/end(), the prepended trace header included. */
  size: number;
}

const CR = 13;
const LF = 10;
const CRLF = Buffer.from('\r\n');
const LF_ONLY = Buffer.from('\n');
const FIELD_START = /^[\x21-\x39\x3b-\x7e]+[ \t]*:/;
const UPSTREAM_ID_FIELD = UPSTREAM_ID_HEADER.toLowerCase();
const UPSTREAM_SIGNATURE_FIELD = UPSTREAM_SIGNATURE_HEADER.toLowerCase();

/** Whether this message may carry an upstream id: from a trusted relay, and how to verify it. */
export interface UpstreamTrust {
  /** The client is an MTA in relay.networks that did not authenticate (stage 1: Postfix relaying). */
  trusted: boolean;
  verifier: Pick<UpstreamIdSigner, 'verify'>;
}

/** The trace header, written once the header section tells whether the message keeps an upstream id. */
export type TracePrepend = Buffer | ((upstreamId: string | null) => Buffer);

export class MessageIntake {
  private inHeader = true;
  private headerBytes = 0;
  private pendingLine: Buffer[] = [];
  private pendingLength = 0;
  private lineLength = 0;
  private lastWasCR = false;
  private size = 0;
  private readonly fields: { name: string; raw: Buffer[] }[] = [];

  constructor(
    private readonly limits: IntakeLimits,
    private readonly prepend: TracePrepend = Buffer.alloc(0),
    private readonly upstream: UpstreamTrust | null = null,
  ) {}

  push(chunk: Buffer): Buffer[] {
    const normal = this.normalise(chunk);
    if (!this.inHeader) return this.emit([normal]);
    return this.emit(this.feedHeader(normal));
  }

  end(): { tail: Buffer[]; result: IntakeResult } {
    // An unterminated last line is stored with its CRLF: SMTP cannot carry it otherwise.
    const tail = this.lineLength > 0 ? this.push(this.lastWasCR ? LF_ONLY : CRLF) : [];
    // A message that is all header (no blank line) still gets its header section parsed.
    if (this.inHeader) tail.push(...this.emit(this.finishHeader(false)));
    return { tail, result: this.result() };
  }

  private resultMsys: MsysApi = {};
  private subject = '';
  private from = '';
  private upstreamId: string | null = null;
  private upstreamRefused: string | null = null;

  private result(): IntakeResult {
    const { resultMsys: msys, subject, from, upstreamId, upstreamRefused, size } = this;
    return { msys, subject, from, upstreamId, upstreamRefused, size };
  }

  private emit(parts: Buffer[]): Buffer[] {
    for (const p of parts) this.size += p.length;
    return parts;
  }

  /** CRLF normalisation plus the byte-level limits, in one pass over the chunk. */
  private normalise(chunk: Buffer): Buffer {
    if (chunk.indexOf(0) !== -1) throw new Rejection(550, '5.6.0', 'Message contains NUL characters');
    let start = 0;
    let out: Buffer[] | null = null;
    let lineStart = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) {
      const prevIsCR = lf > 0 ? chunk[lf - 1] === CR : this.lastWasCR;
      // The limit counts the line without its ending, whether that ending is CRLF or a bare LF.
      const lineLen = this.lineLength + (lf - lineStart) - (prevIsCR ? 1 : 0);
      if (lineLen > this.limits.maxLineLength) throw lineTooLong(this.limits.maxLineLength);
      if (!prevIsCR) {
        out ??= [];
        out.push(chunk.subarray(start, lf), CRLF);
        start = lf + 1;
      }
      this.lineLength = 0;
      lineStart = lf + 1;
    }
    this.lineLength += chunk.length - lineStart;
    if (chunk.length > 0) this.lastWasCR = chunk[chunk.length - 1] === CR;
    // An unfinished line may end in the CR of its CRLF; any other byte past the limit is too long.
    if (this.lineLength - (this.lastWasCR ? 1 : 0) > this.limits.maxLineLength)
      throw lineTooLong(this.limits.maxLineLength);
    if (!out) return chunk;
    out.push(chunk.subarray(start));
    return Buffer.concat(out);
  }

  /** Splits normalised bytes into header lines until the section ends; returns what may be stored now. */
  private feedHeader(data: Buffer): Buffer[] {
    let from = 0;
    for (let lf = data.indexOf(LF); lf !== -1; lf = data.indexOf(LF, lf + 1)) {
      this.pendingLine.push(data.subarray(from, lf + 1));
      const line = this.pendingLine.length === 1 ? this.pendingLine[0]! : Buffer.concat(this.pendingLine);
      this.pendingLine = [];
      this.pendingLength = 0;
      from = lf + 1;
      const ended = this.headerLine(line);
      if (ended) {
        const rest = data.subarray(from);
        return [...this.finishHeader(ended === 'blank'), ...(ended === 'body' ? [line] : []), rest];
      }
    }
    const rest = data.subarray(from);
    if (rest.length > 0) {
      this.pendingLine.push(rest);
      this.pendingLength += rest.length;
    }
    // +1: a pending lone CR may be the start of the blank line, which does not count. A real line
    // this long is refused once complete, so the outcome never depends on where chunks end.
    if (this.headerBytes + this.pendingLength > this.limits.maxHeaderSize + 1) {
      throw headerTooLarge(this.limits.maxHeaderSize);
    }
    return [];
  }

  /** Takes one complete header line; says whether the header section ended and how. */
  private headerLine(line: Buffer): false | 'blank' | 'body' {
    if (line.length === 2 && line[0] === CR) return 'blank';
    this.headerBytes += line.length;
    if (this.headerBytes > this.limits.maxHeaderSize) throw headerTooLarge(this.limits.maxHeaderSize);
    const first = line[0];
    if ((first === 0x20 || first === 0x09) && this.fields.length > 0) {
      this.fields[this.fields.length - 1]!.raw.push(line);
      return false;
    }
    const text = line.toString('latin1');
    if (!FIELD_START.test(text)) {
      this.headerBytes -= line.length;
      return 'body';
    }
    this.fields.push({ name: text.slice(0, text.indexOf(':')).trim().toLowerCase(), raw: [line] });
    return false;
  }

  private finishHeader(blankLine: boolean): Buffer[] {
    this.inHeader = false;
    const msysValues: string[] = [];
    this.decideUpstream();
    const out: Buffer[] = [typeof this.prepend === 'function' ? this.prepend(this.upstreamId) : this.prepend];
    for (const field of this.fields) {
      if (field.name === MSYS_HEADER) {
        msysValues.push(fieldValue(field.raw));
        continue;
      }
      if (field.name === UPSTREAM_SIGNATURE_FIELD) continue;
      if (field.name === UPSTREAM_ID_FIELD && this.upstreamId === null) continue;
      if (field.name === 'subject' && !this.subject) this.subject = decodeMimeWords(fieldValue(field.raw));
      if (field.name === 'from' && !this.from) this.from = addressOf(decodeMimeWords(fieldValue(field.raw)));
      out.push(...field.raw);
    }
    if (blankLine) out.push(CRLF);
    this.resultMsys = parseMsysApi(msysValues);
    return out;
  }

  /** Believes the one X-Sluice-Message-ID of a trusted relay whose signature verifies; else none. */
  private decideUpstream(): void {
    const ids: string[] = [];
    const signatures: string[] = [];
    for (const field of this.fields) {
      if (field.name === UPSTREAM_ID_FIELD) ids.push(fieldValue(field.raw));
      else if (field.name === UPSTREAM_SIGNATURE_FIELD) signatures.push(fieldValue(field.raw));
    }
    if (ids.length === 0) return;
    if (!this.upstream?.trusted) {
      this.upstreamRefused = 'not from a trusted relay';
      return;
    }
    if (ids.length > 1 || signatures.length > 1) {
      this.upstreamRefused = 'more than one id or signature';
      return;
    }
    const verdict = this.upstream.verifier.verify(ids[0]!, signatures[0] ?? null);
    if (verdict.ok) this.upstreamId = ids[0]!;
    else this.upstreamRefused = verdict.reason;
  }
}

/** The unfolded value of a header field, decoded as UTF-8 (SMTPUTF8 headers are raw UTF-8). */
function fieldValue(raw: Buffer[]): string {
  const text = Buffer.concat(raw).toString('utf8');
  return text
    .slice(text.indexOf(':') + 1)
    .replace(/\r\n(?=[ \t])/g, '')
    .replace(/\r\n$/, '')
    .trim();
}

const lineTooLong = (max: number) => new Rejection(552, '5.3.4', `Message line longer than ${max} bytes`);
export const headerTooLarge = (max: number): Rejection =>
  new Rejection(552, '5.3.4', `Message header section larger than ${max} bytes`);
