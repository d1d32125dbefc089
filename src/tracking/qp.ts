/**
 * Quoted-printable for the tracking rewrite, on Buffers with byte-class tables:
 *  - decodeQp(body, offsets?) decodes (RFC 2045 6.7: soft breaks, =XX, transport padding dropped,
 *    a lone "=" kept as written) and, when given `offsets`, records where each decoded byte's
 *    encoding begins in `body` (QpOffsets);
 *  - spliceQp(body, offsets, edits) applies edits made to the decoded bytes directly to the
 *    encoded body: the bytes between edits are copied as they were encoded, each inserted text is
 *    encoded on lines of its own (a soft break before and after), so nothing is re-encoded.
 *    Lines only ever get shorter, except the line before an edit, which gains the soft break's
 *    "=": when that would pass 76 characters (or an edit would split a CRLF) it answers null and
 *    the caller re-encodes the whole part instead (encodeQp in encoding.ts).
 * The decoded content equals splicing the decoded bytes (test/tracking/qp.test.ts checks it
 * against the full re-encode on random input).
 */

/** An edit of the decoded bytes: [start, end) replaced by `text` (printable ASCII or spaces). */
export interface ByteEdit {
  start: number;
  end: number;
  text: string;
}

const EQ = 0x3d;
const LF = 0x0a;
const CR = 0x0d;
/** 1 for the bytes that end a run of literal bytes in decodeQp: "=" and LF. */
const STOP = new Uint8Array(256);
STOP[EQ] = 1;
STOP[LF] = 1;
/** Hex digit value, or 255. */
const HEX_VALUE = new Uint8Array(256).fill(255);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[0x41 + i] = 10 + i;
  HEX_VALUE[0x61 + i] = 10 + i;
}
const HEX = Buffer.from('0123456789ABCDEF');
/** 1 for bytes an encoded line can carry as themselves anywhere (printable ASCII except "="). */
const LITERAL = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) LITERAL[c] = c === EQ ? 0 : 1;

const isBlank = (c: number | undefined) => c === 0x20 || c === 0x09;

/** Whether a line ends at j (LF, CRLF, or the end of the body). */
function lineEndsAt(body: Uint8Array, j: number): boolean {
  return j === body.length || body[j] === LF || (body[j] === CR && body[j + 1] === LF);
}

/**
 * Where each decoded byte's encoding starts in the encoded body, kept as anchors: a decoded
 * offset where the distance between the two offsets changes (after an escape, a soft break or
 * dropped padding), with its encoded offset. Between anchors bytes were copied one for one, so a
 * few thousand anchors describe a 50 KB part that a per-byte table would take 200 KB to.
 */
export class QpOffsets {
  private decoded = new Int32Array(256);
  private encoded = new Int32Array(256);
  private count = 0;

  reset(): void {
    this.count = 0;
  }

  /** decodeQp's side: decoded byte `d` was encoded from `e` on (d never decreases). */
  add(d: number, e: number): void {
    const last = this.count - 1;
    if (last >= 0 && this.decoded[last] === d) {
      this.encoded[last] = e;
      return;
    }
    if (this.count === this.decoded.length) {
      const decoded = new Int32Array(this.count * 2);
      const encoded = new Int32Array(this.count * 2);
      decoded.set(this.decoded);
      encoded.set(this.encoded);
      this.decoded = decoded;
      this.encoded = encoded;
    }
    this.decoded[this.count] = d;
    this.encoded[this.count++] = e;
  }

  /** Where decoded byte `d` was encoded; for d = the decoded length, the encoded length. */
  encodedOf(d: number): number {
    let lo = 0;
    let hi = this.count - 1;
    // The last anchor at or before d (the first is always at 0).
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.decoded[mid]! <= d) lo = mid;
      else hi = mid - 1;
    }
    return this.encoded[lo]! + (d - this.decoded[lo]!);
  }
}

/**
 * Decodes quoted-printable; with `offsets`, also records where each decoded byte was encoded.
 * Literal bytes are copied in runs that end at "=" or a line end; blanks at the end of a run
 * that ends a line were transport padding (RFC 2045 6.7 rule 3) and are taken back out.
 */
export function decodeQp(body: Buffer, offsets: QpOffsets | null = null): Buffer {
  offsets?.reset();
  const out = Buffer.allocUnsafe(body.length);
  const length = body.length;
  let n = 0;
  let i = 0;
  // Encoded minus decoded offset of the last byte written; a change needs an anchor.
  let delta = -1;
  while (i < length) {
    let c = body[i]!;
    if (c !== EQ) {
      if (i - n !== delta) {
        delta = i - n;
        offsets?.add(n, i);
      }
      const runStart = n;
      while (STOP[c] === 0) {
        out[n++] = c;
        if (++i === length) break;
        c = body[i]!;
      }
      if (i === length) {
        n = dropPadding(out, runStart, n, false);
        break;
      }
      if (c === LF) {
        const cr = n > runStart && out[n - 1] === CR;
        const kept = dropPadding(out, runStart, n, cr);
        if (kept !== n) {
          n = kept;
          // The CR (if any) and the LF moved closer to the run's start.
          delta = i - n;
          offsets?.add(cr ? n - 1 : n, cr ? i - 1 : i);
        }
        out[n++] = LF;
        i++;
      }
      continue;
    }
    const a = body[i + 1];
    if (a === LF) {
      i += 2;
      continue;
    }
    if (a === CR && body[i + 2] === LF) {
      i += 3;
      continue;
    }
    // A soft break may carry transport padding between "=" and the line end.
    if (isBlank(a)) {
      let j = i + 1;
      while (j < length && isBlank(body[j])) j++;
      if (j === length || body[j] === LF) {
        i = j + 1;
        continue;
      }
      if (body[j] === CR && body[j + 1] === LF) {
        i = j + 2;
        continue;
      }
    }
    if (i - n !== delta) {
      delta = i - n;
      offsets?.add(n, i);
    }
    const hi = a === undefined ? 255 : HEX_VALUE[a]!;
    const lo = i + 2 < length ? HEX_VALUE[body[i + 2]!]! : 255;
    if (hi !== 255 && lo !== 255) {
      out[n++] = (hi << 4) | lo;
      i += 3;
    } else {
      out[n++] = EQ; // a lone "=" is kept as written, as RFC 2045 advises for robustness
      i++;
    }
  }
  offsets?.add(n, length);
  return out.subarray(0, n);
}

/**
 * Drops the blanks that end out[runStart, end) (before its last byte, a CR, when `cr`); answers
 * the new end. Only blanks of the current run are literal blanks: an escaped "=20" before it
 * belongs to an earlier run and stays.
 */
function dropPadding(out: Buffer, runStart: number, end: number, cr: boolean): number {
  const k = cr ? end - 1 : end;
  let b = k;
  while (b > runStart && isBlank(out[b - 1])) b--;
  if (b === k) return end;
  if (cr) out[b++] = CR;
  return b;
}

/** The most bytes encodeText can write for `text` (every byte as =XX, soft breaks, CRLFs). */
function encodedBound(text: string): number {
  return text.length * 3 + Math.ceil(text.length / 25) * 3 + 6;
}

/** Encodes ASCII `text` at column 0 into out at `at`, lines of at most 76; answers where it ends. */
function encodeText(text: string, out: Buffer, at: number): number {
  // Tracking URLs are base64url tokens after a base URL: nothing to escape. They are written in
  // one native call, checked, then spread over lines of 75 (last line first, so nothing is
  // overwritten before it moved); a byte that needs escaping sends the text to the general loop.
  const n = out.write(text, at, 'latin1');
  if (n !== text.length) return encodeEscaped(text, out, at);
  for (let i = at, end = at + n; i < end; i++) {
    const c = out[i]!;
    if (c < 0x20 || c > 0x7e || c === EQ) return encodeEscaped(text, out, at);
  }
  const lines = Math.max(1, Math.ceil(n / 75));
  for (let k = lines - 1; k >= 1; k--) {
    out.copyWithin(at + k * 78, at + k * 75, at + Math.min((k + 1) * 75, n));
    softBreak(out, at + k * 78 - 3);
  }
  return at + n + 3 * (lines - 1);
}

function encodeEscaped(text: string, out: Buffer, at: number): number {
  let o = at;
  let column = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) & 0xff;
    const literal = LITERAL[c] === 1 || c === 0x20 || c === 0x09; // never at a line end: a soft break follows
    const width = literal ? 1 : 3;
    if (column + width > 75) {
      o = softBreak(out, o);
      column = 0;
    }
    if (literal) out[o++] = c;
    else {
      out[o++] = EQ;
      out[o++] = HEX[c >> 4]!;
      out[o++] = HEX[c & 15]!;
    }
    column += width;
  }
  return o;
}

function softBreak(out: Buffer, o: number): number {
  out[o] = 0x3d;
  out[o + 1] = 0x0d;
  out[o + 2] = 0x0a;
  return o + 3;
}

/**
 * `edits` sorted by start, not overlapping, offsets into the bytes decodeQp(body, offsets) gave.
 * Answers the encoded result, or null when the caller has to re-encode the part.
 */
export function spliceQp(body: Buffer, offsets: QpOffsets, edits: readonly ByteEdit[]): Buffer | null {
  let bound = body.length;
  for (const e of edits) bound += encodedBound(e.text) + 6;
  const out = Buffer.allocUnsafe(bound);
  let o = 0;
  let at = 0;
  // Column of the output's current line.
  let column = 0;
  for (const edit of edits) {
    if (edit.start === edit.end && edit.text.length === 0) continue;
    const p = offsets.encodedOf(edit.start);
    const next = offsets.encodedOf(edit.end);
    if (splitsCrlf(body, p) || splitsCrlf(body, next)) return null;
    body.copy(out, o, at, p);
    o += p - at;
    column = columnAfter(body, at, p, column);
    if (column < 0) return null;
    // Blanks right before a line end were transport padding: with a soft break after them they
    // would become text, so they go.
    if (lineEndsAt(body, p)) {
      while (column > 0 && (out[o - 1] === 0x20 || out[o - 1] === 0x09)) {
        o--;
        column--;
      }
    }
    if (column > 0) {
      if (column + 1 > 76) return null;
      o = softBreak(out, o);
      column = 0;
    }
    if (edit.text.length > 0) {
      // The text keeps its lines to itself: the rest of the body goes on at the start of a line.
      o = softBreak(out, encodeText(edit.text, out, o));
    }
    at = next;
    column = 0;
  }
  body.copy(out, o, at);
  o += body.length - at;
  return out.subarray(0, o);
}

function splitsCrlf(body: Buffer, p: number): boolean {
  return p > 0 && body[p - 1] === 0x0d && body[p] === 0x0a;
}

/** The output column after copying body[from, to) onto a line at `column`; -1 past 998 (give up). */
function columnAfter(body: Buffer, from: number, to: number, column: number): number {
  for (let i = to - 1, seen = 0; i >= from; i--, seen++) {
    if (body[i] === 0x0a) return to - i - 1;
    if (seen > 998) return -1;
  }
  return column + (to - from);
}
