/**
 * Quoted-printable for the tracking rewrite, on Buffers with byte-class tables:
 *  - decodeQp(body, starts?) decodes (RFC 2045 6.7: soft breaks, =XX, transport padding dropped,
 *    a lone "=" kept as written) and, when given `starts`, records where each decoded byte's
 *    encoding begins in `body` (starts[n] = body.length for the end);
 *  - spliceQp(body, starts, edits) applies edits made to the decoded bytes directly to the
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

/** 0: a byte copied as it is; 1: "="; 2: space or tab (padding when it ends a line). */
const CLASS = new Uint8Array(256);
CLASS[0x3d] = 1;
CLASS[0x20] = 2;
CLASS[0x09] = 2;
/** Hex digit value, or 255. */
const HEX_VALUE = new Uint8Array(256).fill(255);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX_VALUE[0x41 + i] = 10 + i;
  HEX_VALUE[0x61 + i] = 10 + i;
}
const HEX = Buffer.from('0123456789ABCDEF');
/** Text encodeText can write as it is: printable ASCII but "=", and spaces (a soft break always follows). */
const PLAIN_TEXT = /^[\x20-\x3c\x3e-\x7e]*$/;
/** 1 for bytes an encoded line can carry as themselves anywhere (printable ASCII except "="). */
const LITERAL = new Uint8Array(256);
for (let c = 0x21; c <= 0x7e; c++) LITERAL[c] = c === 0x3d ? 0 : 1;

/** Where the run of spaces and tabs starting at i ends. */
function skipBlanks(body: Uint8Array, i: number): number {
  let j = i;
  while (j < body.length && (body[j] === 0x20 || body[j] === 0x09)) j++;
  return j;
}

/** Whether a line ends at j (LF, CRLF, or the end of the body). */
function lineEndsAt(body: Uint8Array, j: number): boolean {
  return j === body.length || body[j] === 0x0a || (body[j] === 0x0d && body[j + 1] === 0x0a);
}

export function decodeQp(body: Buffer, into: Int32Array | null = null): Buffer {
  // Always written (one loop to keep fast); a throwaway array when the caller has no use for it.
  const starts = into ?? new Int32Array(body.length + 1);
  const out = Buffer.allocUnsafe(body.length);
  const length = body.length;
  let n = 0;
  let i = 0;
  while (i < length) {
    let c = body[i]!;
    // Most bytes stand for themselves: a tight loop over each run of them.
    while (CLASS[c] === 0) {
      starts[n] = i;
      out[n++] = c;
      if (++i === length) break;
      c = body[i]!;
    }
    if (i === length) break;
    const kind = CLASS[c]!;
    if (kind === 2) {
      // The usual blank, one between words: followed by a byte that is neither a blank nor a
      // line end, it is text.
      const next = body[i + 1];
      if (next !== undefined && next > 0x20) {
        starts[n] = i;
        out[n++] = c;
        i++;
        continue;
      }
      // Trailing whitespace on an encoded line is transport padding (RFC 2045 6.7 rule 3).
      const j = skipBlanks(body, i);
      if (lineEndsAt(body, j)) {
        i = j;
        continue;
      }
      for (; i < j; i++) {
        starts[n] = i;
        out[n++] = body[i]!;
      }
    } else {
      const a = body[i + 1];
      if (a === 0x0a) {
        i += 2;
        continue;
      }
      if (a === 0x0d && body[i + 2] === 0x0a) {
        i += 3;
        continue;
      }
      // A soft break may carry transport padding between "=" and the line end.
      if (a === 0x20 || a === 0x09) {
        const j = skipBlanks(body, i + 1);
        if (j === length || body[j] === 0x0a) {
          i = j + 1;
          continue;
        }
        if (body[j] === 0x0d && body[j + 1] === 0x0a) {
          i = j + 2;
          continue;
        }
      }
      const hi = a === undefined ? 255 : HEX_VALUE[a]!;
      const lo = i + 2 < length ? HEX_VALUE[body[i + 2]!]! : 255;
      starts[n] = i;
      if (hi !== 255 && lo !== 255) {
        out[n++] = (hi << 4) | lo;
        i += 3;
      } else {
        out[n++] = c; // a lone "=" is kept as written, as RFC 2045 advises for robustness
        i++;
      }
    }
  }
  starts[n] = length;
  return out.subarray(0, n);
}

/** The most bytes encodeText can write for `text` (every byte as =XX, soft breaks, CRLFs). */
function encodedBound(text: string): number {
  return text.length * 3 + Math.ceil(text.length / 25) * 3 + 6;
}

/** Encodes ASCII `text` at column 0 into out at `at`, lines of at most 76; answers where it ends. */
function encodeText(text: string, out: Buffer, at: number): number {
  let o = at;
  // Tracking URLs are base64url tokens after a base URL: nothing to escape, so written 75 a line.
  if (PLAIN_TEXT.test(text)) {
    for (let i = 0; i < text.length; i += 75) {
      if (i > 0) o = softBreak(out, o);
      o += out.write(text.slice(i, i + 75), o, 'latin1');
    }
    return o;
  }
  let column = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i) & 0xff;
    const literal = LITERAL[c] === 1 || c === 0x20 || c === 0x09; // never at a line end: a soft break follows
    const width = literal ? 1 : 3;
    if (column + width > 75) {
      out[o++] = 0x3d;
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      column = 0;
    }
    if (literal) out[o++] = c;
    else {
      out[o++] = 0x3d;
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
 * `edits` sorted by start, not overlapping, offsets into the bytes decodeQp(body, starts) gave.
 * Answers the encoded result, or null when the caller has to re-encode the part.
 */
export function spliceQp(body: Buffer, starts: Int32Array, edits: readonly ByteEdit[]): Buffer | null {
  let bound = body.length;
  for (const e of edits) bound += encodedBound(e.text) + 6;
  const out = Buffer.allocUnsafe(bound);
  let o = 0;
  let at = 0;
  // Column of the output's current line.
  let column = 0;
  for (const edit of edits) {
    if (edit.start === edit.end && edit.text.length === 0) continue;
    const p = starts[edit.start]!;
    const next = starts[edit.end]!;
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
