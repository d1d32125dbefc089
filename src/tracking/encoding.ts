/**
 * Content-Transfer-Encodings and charsets for the tracking transform: decode a part's body to
 * bytes, encode it back with the same encoding, and say whether a charset can be rewritten safely.
 *
 * Rewriting works on a byte string (latin1: one character per byte), so only charsets in which
 * every byte below 0x80 means its ASCII character are accepted: then `<`, `"`, `=` and a URL's
 * characters are where the HTML tokenizer sees them, and bytes that are not edited stay as they
 * were. The charset's real decoder is used only to read link targets.
 */
import { TextDecoder } from 'node:util';
import { decodeQp } from './qp.js';

/** Charsets whose ASCII bytes are always ASCII characters (no ISO-2022 shifts, no UTF-16). */
const ASCII_SAFE =
  /^(?:us-ascii|ascii|utf-?8|iso-8859-\d{1,2}|iso8859-\d{1,2}|latin-?\d|windows-125\d|cp125\d|koi8-[ru])$/i;

export type Cte = '7bit' | '8bit' | 'binary' | 'quoted-printable' | 'base64';

export function parseCte(value: string | undefined): Cte | null {
  const v = (value ?? '7bit').trim().toLowerCase();
  return v === '7bit' || v === '8bit' || v === 'binary' || v === 'quoted-printable' || v === 'base64'
    ? v
    : null;
}

export interface CharsetDecoder {
  decode(bytes: Buffer): string;
}

/** A decoder for the charset, or why the part cannot be rewritten. */
export function charsetDecoder(charset: string | undefined): CharsetDecoder | string {
  const name = (charset ?? 'us-ascii').trim().toLowerCase();
  if (!ASCII_SAFE.test(name)) return `charset ${JSON.stringify(name)} is not supported for rewriting`;
  let decoder: TextDecoder;
  try {
    // us-ascii maps to windows-1252 in the WHATWG table: the safe superset for reading URLs.
    decoder = new TextDecoder(name === 'us-ascii' || name === 'ascii' ? 'windows-1252' : name);
  } catch {
    return `charset ${JSON.stringify(name)} is unknown`;
  }
  // Node 20's TextDecoder reads windows-1252 (and the labels WHATWG maps to it: iso-8859-1,
  // latin1, us-ascii) as ISO-8859-1, so 0x80-0x9F became C1 controls instead of € “ ” – …
  return decoder.encoding === 'windows-1252' ? { decode: decodeWindows1252 } : decoder;
}

/** windows-1252 bytes 0x80-0x9F (WHATWG index); the five unassigned ones map to their C1 control. */
const CP1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

function decodeWindows1252(bytes: Buffer): string {
  const text = bytes.toString('latin1');
  return /[\x80-\x9f]/.test(text)
    ? text.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!)
    : text;
}

export function decodeBody(body: Buffer, cte: Cte): Buffer {
  if (cte === 'base64') return Buffer.from(body.toString('latin1').replace(/[^A-Za-z0-9+/]/g, ''), 'base64');
  if (cte === 'quoted-printable') return decodeQp(body);
  return body;
}

export function encodeBody(bytes: Buffer, cte: Cte): Buffer {
  if (cte === 'base64') return encodeBase64(bytes);
  if (cte === 'quoted-printable') return encodeQp(bytes);
  return bytes;
}

function encodeBase64(bytes: Buffer): Buffer {
  const b64 = bytes.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

const HEX = Buffer.from('0123456789ABCDEF');

/** Quoted-printable, lines of at most 76 characters, CRLF hard breaks kept as line breaks. */
export function encodeQp(bytes: Buffer): Buffer {
  // Worst case: every byte as =XX, plus a soft break (=CRLF) per 25 encoded bytes.
  const out = Buffer.allocUnsafe(bytes.length * 3 + Math.ceil(bytes.length / 25) * 3 + 3);
  let n = 0;
  let column = 0;
  const length = bytes.length;
  for (let i = 0; i < length; i++) {
    const c = bytes[i]!;
    if (c === 0x0d && bytes[i + 1] === 0x0a) {
      out[n++] = 0x0d;
      out[n++] = 0x0a;
      i++;
      column = 0;
      continue;
    }
    // Fast path: a run of printable bytes (no "=") is copied as is, up to the line's room.
    if (c >= 0x21 && c <= 0x7e && c !== 0x3d && column < 75) {
      const limit = Math.min(length, i + 75 - column);
      let j = i + 1;
      while (j < limit) {
        const b = bytes[j]!;
        if (b < 0x21 || b > 0x7e || b === 0x3d) break;
        j++;
      }
      // A byte loop: runs are short (a line at most), where Buffer.copy's call costs more than it saves.
      for (let k = i; k < j; k++) out[n++] = bytes[k]!;
      column += j - i;
      i = j - 1;
      continue;
    }
    // Space and tab are literal unless they end a line (where they would be padding).
    const lineEnd = i + 1 === length || (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a);
    const literal = (c >= 0x21 && c <= 0x7e && c !== 0x3d) || ((c === 0x20 || c === 0x09) && !lineEnd);
    const width = literal ? 1 : 3;
    // 75 + the soft-break "=" makes 76.
    if (column + width > 75) {
      out[n++] = 0x3d;
      out[n++] = 0x0d;
      out[n++] = 0x0a;
      column = 0;
    }
    if (literal) out[n++] = c;
    else {
      out[n++] = 0x3d;
      out[n++] = HEX[c >> 4]!;
      out[n++] = HEX[c & 15]!;
    }
    column += width;
  }
  return out.subarray(0, n);
}

/** Longest line in bytes (line ends excluded): 7bit/8bit parts must not grow past SMTP's 998. */
export function longestLine(bytes: Buffer): number {
  let longest = 0;
  let start = 0;
  for (let lf = bytes.indexOf(10); lf !== -1; lf = bytes.indexOf(10, lf + 1)) {
    longest = Math.max(longest, lf - start - (lf > start && bytes[lf - 1] === 13 ? 1 : 0));
    start = lf + 1;
  }
  return Math.max(longest, bytes.length - start);
}
