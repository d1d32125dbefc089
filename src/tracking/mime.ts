/**
 * The message-level tracking transform: walks the MIME structure and rewrites each
 * inline text/html (opens, clicks) and text/plain (clicks) part; every other byte passes through
 * as it came. push()/end() return bytes to pass on, as MessageIntake does, so it can sit between
 * intake and the spool writer.
 *
 * Header sections are read line by line; inside a body only lines starting with "-" (possible
 * boundaries) are looked at, the runs of lines between them are passed on or held whole.
 *
 * Memory: one chunk at a time (intake caps line length), plus the text part being rewritten, held
 * whole because a link may sit anywhere in it — capped at maxPartSize; a larger part passes
 * through untracked with a reason. Attachments and other parts stream through.
 *
 * Never corrupts: a part that cannot be rewritten safely (unknown charset or transfer encoding,
 * too large, a line that would exceed 998 bytes, no closing boundary, any error) is passed on
 * exactly as received and the reason recorded. Signed content is never touched: a
 * DKIM-Signature on the message or a multipart/signed / application/pkcs7-mime part.
 */
import { type Cte, charsetDecoder, decodeBody, encodeBody, longestLine, parseCte } from './encoding.js';
import { htmlEdits } from './html.js';
import { type PartHeaders, parseHeaders } from './mime-headers.js';
import { type ByteEdit, decodeQp, QpOffsets, spliceQp } from './qp.js';
import { textEdits } from './text.js';
import { MAX_TOKEN_LENGTH, type TokenSigner } from './token.js';

export interface TrackingOptions {
  open: boolean;
  click: boolean;
  /** Tracking server base URL, without the trailing slash. */
  baseUrl: string;
  signer: TokenSigner;
  messageId: string;
  rcpt: string;
  /** Largest text part rewritten, in bytes. */
  maxPartSize: number;
}

export interface TrackingResult {
  /** True when at least one link or pixel was added. */
  tracked: boolean;
  reasons: string[];
  links: number;
  pixels: number;
}

type Mode = 'headers' | 'pass' | 'hold';

/** A line end followed by "-": where a boundary line may start. */
const NL_DASH = Buffer.from('\n-');

/** A latin1 byte string holds only U+0000-U+00FF: anything from U+0080 up is a non-ASCII byte. */
const NON_ASCII = /[\u0080-\u00ff]/;

export class TrackingTransform {
  private pending: Buffer[] = [];
  private mode: Mode = 'headers';
  private headerText = '';
  /** Open multipart boundaries, outermost first; `frozen` marks signed content. */
  private readonly stack: { boundary: string; frozen: boolean }[] = [];
  private held: Buffer[] = [];
  private heldSize = 0;
  private heldPart: PartHeaders | null = null;
  private isTop = true;
  private untouched = false;
  private linkIndex = 0;
  readonly result: TrackingResult = { tracked: false, reasons: [], links: 0, pixels: 0 };

  constructor(private readonly options: TrackingOptions) {}

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let from = 0;
    while (from < chunk.length) {
      if (this.pending.length === 0 && (this.untouched || this.mode !== 'headers')) {
        // Inside a body only a boundary line changes anything: the lines before the next one
        // that starts with "-" are taken as one run, not split and looked at one by one.
        const end = this.bodyRunEnd(chunk, from);
        if (end > from) {
          this.bodyRun(chunk.subarray(from, end), out);
          from = end;
          continue;
        }
      }
      const lf = chunk.indexOf(10, from);
      if (lf === -1) break;
      this.pending.push(chunk.subarray(from, lf + 1));
      const line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
      this.pending = [];
      from = lf + 1;
      this.line(line, out);
    }
    if (from < chunk.length) this.pending.push(chunk.subarray(from));
    return out;
  }

  /** Where the run of whole body lines from `from` (a line start) ends: at a line starting with "-", or the last line end. */
  private bodyRunEnd(chunk: Buffer, from: number): number {
    if (!this.untouched && this.stack.length > 0) {
      if (chunk[from] === 45) return from;
      const dash = chunk.indexOf(NL_DASH, from);
      if (dash !== -1) return dash + 1;
    }
    return Math.max(from, chunk.lastIndexOf(10) + 1);
  }

  /** Whole lines of a body (none a boundary): passed on, or held when the part is being rewritten. */
  private bodyRun(run: Buffer, out: Buffer[]): void {
    if (this.untouched || this.mode === 'pass') {
      out.push(run);
      return;
    }
    this.held.push(run);
    this.heldSize += run.length;
    if (this.heldSize > this.options.maxPartSize) {
      this.release(out, `a text part is larger than ${this.options.maxPartSize} bytes; left untouched`);
    }
  }

  end(): Buffer[] {
    const out: Buffer[] = [];
    if (this.pending.length > 0) this.line(Buffer.concat(this.pending), out);
    this.pending = [];
    if (this.mode === 'hold') {
      // A top-level text body ends with the message; a part inside a multipart should have ended
      // with a boundary, and without one its extent is a guess, so it is left alone.
      if (this.stack.length === 0) this.flushHeld(out, null);
      else this.release(out, 'a text part has no closing boundary; left untouched');
    }
    return out;
  }

  private line(line: Buffer, out: Buffer[]): void {
    if (this.untouched) {
      out.push(line);
      return;
    }
    // Checked in header sections too: a part with no blank line must not swallow the next boundary.
    const delimiter = this.delimiter(line);
    if (!delimiter && this.mode === 'headers') {
      out.push(line);
      if (line.length <= 2 && (line[0] === 13 || line[0] === 10)) this.headersDone();
      else if (this.headerText.length < 65_536) this.headerText += line.toString('latin1');
      return;
    }
    if (delimiter) {
      if (this.mode === 'hold') this.flushHeld(out, line);
      else out.push(line);
      this.stack.length = delimiter.depth + (delimiter.close ? 0 : 1);
      this.mode = delimiter.close ? 'pass' : 'headers';
      this.headerText = '';
      return;
    }
    if (this.mode === 'pass') {
      out.push(line);
      return;
    }
    this.held.push(line);
    this.heldSize += line.length;
    if (this.heldSize > this.options.maxPartSize) {
      this.release(out, `a text part is larger than ${this.options.maxPartSize} bytes; left untouched`);
    }
  }

  /** A boundary line of any open multipart: its depth in the stack and whether it closes it. */
  private delimiter(line: Buffer): { depth: number; close: boolean } | null {
    if (this.stack.length === 0 || line[0] !== 45 || line[1] !== 45) return null;
    const text = line.toString('latin1').replace(/[ \t\r\n]+$/, '');
    for (let depth = this.stack.length - 1; depth >= 0; depth--) {
      const b = `--${this.stack[depth]!.boundary}`;
      if (text === b) return { depth, close: false };
      if (text === `${b}--`) return { depth, close: true };
    }
    return null;
  }

  private headersDone(): void {
    const part = parseHeaders(this.headerText);
    const top = this.isTop;
    this.isTop = false;
    this.headerText = '';
    this.mode = 'pass';
    const frozen = this.stack.some((s) => s.frozen);
    if (top && part.dkim) {
      this.leave('the message is DKIM-signed; not rewritten');
      return;
    }
    if (part.type === 'application/pkcs7-mime' || part.type === 'application/x-pkcs7-mime') {
      if (top) {
        this.leave('the message is S/MIME-encrypted or signed; not rewritten');
        return;
      }
      this.note('an S/MIME part is left untouched');
      return;
    }
    if (part.type.startsWith('multipart/')) {
      const boundary = part.params.get('boundary');
      if (!boundary) {
        this.leave(`${part.type} without a boundary; not rewritten`);
        return;
      }
      const signed = part.type === 'multipart/signed';
      if (signed) this.note('signed content (multipart/signed) is left untouched');
      this.stack.push({ boundary, frozen: frozen || signed });
      return;
    }
    if (frozen || part.disposition === 'attachment') return;
    const wanted =
      (part.type === 'text/html' && (this.options.open || this.options.click)) ||
      (part.type === 'text/plain' && this.options.click);
    if (!wanted) return;
    this.mode = 'hold';
    this.heldPart = part;
  }

  /** Rewrites the held part and passes it on, followed by `next` (the boundary line that ended it). */
  private flushHeld(out: Buffer[], next: Buffer | null): void {
    const raw = Buffer.concat(this.held);
    const part = this.heldPart!;
    this.held = [];
    this.heldSize = 0;
    this.heldPart = null;
    // The line end before a boundary belongs to the boundary (RFC 2046 5.1.1), not to the body.
    const eol = next ? trailingEol(raw) : 0;
    const body = raw.subarray(0, raw.length - eol);
    let rewritten: Buffer | string;
    try {
      rewritten = this.rewrite(body, part);
    } catch (error) {
      rewritten = `rewriting a ${part.type} part failed (${(error as Error).message}); left untouched`;
    }
    if (typeof rewritten === 'string') {
      this.note(rewritten);
      out.push(raw);
    } else {
      out.push(rewritten, raw.subarray(raw.length - eol));
    }
    if (next) out.push(next);
    this.mode = 'pass';
  }

  private rewrite(body: Buffer, part: PartHeaders): Buffer | string {
    const cte = parseCte(part.cte);
    if (!cte)
      return `transfer encoding ${JSON.stringify(part.cte)} is unknown; a ${part.type} part left untouched`;
    const decoder = charsetDecoder(part.params.get('charset'));
    if (typeof decoder === 'string') return `${decoder}; a ${part.type} part left untouched`;
    // Quoted-printable keeps where each decoded byte was encoded, so edits go straight into the
    // encoded body (spliceQp) instead of decoding, editing and re-encoding all of it.
    const offsets = cte === 'quoted-printable' ? qpOffsetsFor(body.length) : null;
    const bytes = offsets ? decodeQp(body, offsets) : decodeBody(body, cte);
    const source = bytes.toString('latin1');
    // ASCII reads the same in every accepted charset: only other bytes need the decoder.
    const decode = (raw: string) => (NON_ASCII.test(raw) ? decoder.decode(Buffer.from(raw, 'latin1')) : raw);
    let edits: ByteEdit[];
    let links: number;
    let pixels = 0;
    if (part.type === 'text/html') {
      ({ edits, links, pixels } = htmlEdits(source, {
        open: this.options.open,
        click: this.options.click,
        decode,
        trackLink: (url, name) => this.link(url, name),
        pixel: (kind) => this.pixel(kind),
      }));
    } else {
      ({ edits, links } = textEdits(source, (url) => this.link(decode(url), '')));
    }
    if (links + pixels === 0) return body;
    let encoded = offsets ? spliceQp(body, offsets, edits) : null;
    if (!encoded) {
      const updated = spliceBytes(bytes, edits);
      if (!lineSafe(cte, bytes, updated))
        return `a rewritten ${cte} line would exceed 998 bytes; left untouched`;
      encoded = encodeBody(updated, cte);
    }
    // Counted only now: a part declined above adds no link or pixel to the message.
    this.result.links += links;
    this.result.pixels += pixels;
    this.result.tracked = true;
    return encoded;
  }

  /** The tracking URL for a link, or null when its token would be too long to ever verify. */
  private link(url: string, name: string): string | null {
    const { signer, messageId, rcpt, baseUrl } = this.options;
    const linkIndex = this.linkIndex;
    const token = signer.sign({ kind: 'click', messageId, rcpt, linkIndex, linkName: name, url });
    if (token.length > MAX_TOKEN_LENGTH) {
      this.note('a link too long for a tracking token is left as written');
      return null;
    }
    this.linkIndex++;
    return `${baseUrl}/f/${token}`;
  }

  private pixel(kind: 'open' | 'initial_open'): string {
    const { signer, messageId, rcpt, baseUrl } = this.options;
    return `${baseUrl}/q/${signer.sign({ kind, messageId, rcpt, linkIndex: 0, linkName: '', url: '' })}`;
  }

  /** Passes the held part on unchanged. */
  private release(out: Buffer[], reason: string): void {
    out.push(...this.held);
    this.held = [];
    this.heldSize = 0;
    this.heldPart = null;
    this.mode = 'pass';
    this.note(reason);
  }

  private leave(reason: string): void {
    this.untouched = true;
    this.note(reason);
  }

  private note(reason: string): void {
    if (!this.result.reasons.includes(reason)) this.result.reasons.push(reason);
  }
}

/**
 * Quoted-printable parts up to this size share one offsets map (rewrite() is synchronous, so no
 * two parts use it at once): no garbage per message. A larger part gets its own, so the shared
 * one never stays grown to the size of one huge part.
 */
const SHARED_OFFSETS = 1 << 20;
const sharedOffsets = new QpOffsets();

function qpOffsetsFor(encodedLength: number): QpOffsets {
  return encodedLength > SHARED_OFFSETS ? new QpOffsets() : sharedOffsets;
}

/** The decoded bytes with ordered edits applied (edit texts are ASCII). */
function spliceBytes(bytes: Buffer, edits: readonly ByteEdit[]): Buffer {
  let size = bytes.length;
  for (const e of edits) size += e.text.length - (e.end - e.start);
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  let at = 0;
  for (const e of edits) {
    o += bytes.copy(out, o, at, e.start);
    o += out.write(e.text, o, 'latin1');
    at = e.end;
  }
  bytes.copy(out, o, at);
  return out;
}

function lineSafe(cte: Cte, before: Buffer, after: Buffer): boolean {
  if (cte !== '7bit' && cte !== '8bit') return true;
  return longestLine(after) <= Math.max(998, longestLine(before));
}

function trailingEol(raw: Buffer): number {
  if (raw.length >= 2 && raw[raw.length - 2] === 13 && raw[raw.length - 1] === 10) return 2;
  return raw.length >= 1 && raw[raw.length - 1] === 10 ? 1 : 0;
}

/** Whole-message form: rewrites a Buffer or a stream; any failure gives back the original bytes. */
export async function trackMessage(
  input: Buffer | AsyncIterable<Buffer>,
  options: TrackingOptions,
): Promise<{ message: Buffer } & TrackingResult> {
  const chunks: Buffer[] = [];
  const out: Buffer[] = [];
  const transform = new TrackingTransform(options);
  try {
    for await (const chunk of Buffer.isBuffer(input) ? [input] : input) {
      chunks.push(chunk);
      out.push(...transform.push(chunk));
    }
    out.push(...transform.end());
    return { message: Buffer.concat(out), ...transform.result };
  } catch (error) {
    const reason = `tracking failed (${(error as Error).message}); message left untouched`;
    return { message: Buffer.concat(chunks), tracked: false, reasons: [reason], links: 0, pixels: 0 };
  }
}
