/**
 * The template language in a caller's own message (content.email_rfc822), where SparkPost applies
 * it: the top-level header fields, and the first text/plain and the first text/html part that are
 * not attachments. Everything else (other parts, attachments, the MIME structure) passes through
 * byte for byte. A header value is read after RFC 2047 decoding and, when its rendering is not
 * plain ASCII, written back as UTF-8 encoded-words. A text part is read through its transfer
 * encoding and charset; its rendering is written back as UTF-8, 7bit when it is plain ASCII with
 * short lines, quoted-printable otherwise, with Content-Transfer-Encoding and charset updated.
 * Compiled once (a syntax error is TemplateError 'compiling'); rendered per recipient.
 */
import { charsetDecoder, decodeBody, encodeQp, longestLine, parseCte } from '../tracking/encoding.js';
import { type PartHeaders, parseHeaders } from '../tracking/mime-headers.js';
import { decodeMimeWords, encodeMimeWords } from './mime-words.js';
import { type CompiledPart, compilePart, type RenderData, TemplateError } from './template/index.js';

interface Field {
  name: string;
  value: string;
  start: number;
  end: number;
}

interface Head {
  fields: Field[];
  /** Where the header section ends (a new field may be inserted here). */
  end: number;
  bodyStart: number;
}

interface Leaf {
  head: Head;
  headers: PartHeaders;
  end: number;
}

type Edit =
  | { start: number; end: number; header: string; part: CompiledPart }
  | { start: number; end: number; body: Leaf; part: CompiledPart; kind: 'text' | 'html' };

/** Header fields a template may not change: they decide how the rest of the message is read. */
const STRUCTURAL = new Set(['content-type', 'content-transfer-encoding', 'mime-version']);

export class Rfc822Template {
  private readonly edits: Edit[] = [];

  constructor(private readonly raw: string) {
    if (!raw.includes('{{')) return;
    const top = readHead(raw, 0, raw.length);
    for (const field of top.fields) {
      if (STRUCTURAL.has(field.name.toLowerCase())) continue;
      const value = field.value.includes('=?') ? decodeMimeWords(field.value) : field.value;
      if (value.includes('{{'))
        this.edits.push({
          ...field,
          header: field.name,
          part: compilePart(value, 'header', `Header:${field.name}`),
        });
    }
    const leaves: Leaf[] = [];
    collectLeaves(raw, raw.length, top, leaves, 0);
    const textual = (type: string) =>
      leaves.find((leaf) => leaf.headers.type === type && leaf.headers.disposition !== 'attachment');
    for (const [type, kind] of [
      ['text/plain', 'text'],
      ['text/html', 'html'],
    ] as const) {
      const leaf = textual(type);
      if (!leaf) continue;
      const text = decodeText(raw, leaf, kind);
      if (text === null || !text.includes('{{')) continue;
      this.edits.push({
        start: leaf.head.bodyStart,
        end: leaf.end,
        body: leaf,
        kind,
        part: compilePart(text, kind, kind),
      });
    }
    this.edits.sort((a, b) => a.start - b.start);
  }

  render(data: RenderData): Buffer {
    if (this.edits.length === 0) return Buffer.from(this.raw, 'utf8');
    // Every change is a replacement of a span of the source; spans never overlap (templated
    // header fields are never Content-Type or Content-Transfer-Encoding).
    const changes: { start: number; end: number; bytes: Buffer }[] = [];
    const text = (s: string) => Buffer.from(s, 'utf8');
    for (const edit of this.edits) {
      if ('header' in edit) {
        const value = headerValue(edit.part.render(data));
        changes.push({ start: edit.start, end: edit.end, bytes: text(`${edit.header}: ${value}\r\n`) });
        continue;
      }
      const rendered = text(edit.part.render(data).replace(/\r?\n/g, '\r\n'));
      const plain = !rendered.some((b) => b > 0x7f) && longestLine(rendered) <= 998;
      const { fields, end, bodyStart } = edit.body.head;
      // A plain rendering of a part that was not transfer-encoded keeps the part's header fields;
      // otherwise Content-Type (charset) and Content-Transfer-Encoding are rewritten with the body.
      const encoded = ['quoted-printable', 'base64'].includes(parseCte(edit.body.headers.cte) ?? '');
      if (!plain || encoded) {
        const structural = (name: string) => fields.find((f) => f.name.toLowerCase() === name);
        const type = structural('content-type');
        const cte = structural('content-transfer-encoding');
        for (const field of [type, cte])
          if (field) changes.push({ start: field.start, end: field.end, bytes: Buffer.alloc(0) });
        const contentType = withCharset(type?.value ?? `text/${edit.kind === 'html' ? 'html' : 'plain'}`);
        const fieldsText = `Content-Type: ${contentType}\r\nContent-Transfer-Encoding: ${plain ? '7bit' : 'quoted-printable'}\r\n`;
        changes.push({ start: end, end, bytes: text(fieldsText) });
      }
      const body = [plain ? rendered : encodeQp(rendered)];
      const endedWithBreak = /\r?\n$/.test(this.raw.slice(bodyStart, edit.end));
      if (endedWithBreak && !rendered.subarray(-2).equals(text('\r\n'))) body.push(text('\r\n'));
      changes.push({ start: bodyStart, end: edit.end, bytes: Buffer.concat(body) });
    }
    changes.sort((a, b) => a.start - b.start || a.end - b.end);
    const out: Buffer[] = [];
    let at = 0;
    for (const change of changes) {
      if (change.start > at) out.push(text(this.raw.slice(at, change.start)));
      out.push(change.bytes);
      at = Math.max(at, change.end);
    }
    out.push(text(this.raw.slice(at)));
    return Buffer.concat(out);
  }
}

function headerValue(rendered: string): string {
  const value = rendered.replace(/[\r\n]+/g, ' ').trim();
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeMimeWords(value);
}

function withCharset(contentType: string): string {
  return /;\s*charset\s*=/i.test(contentType)
    ? contentType.replace(/(;\s*charset\s*=\s*)("[^"]*"|[^\s;]+)/i, '$1utf-8')
    : `${contentType}; charset=utf-8`;
}

/** The header fields of the section starting at `start`, with their spans. */
function readHead(raw: string, start: number, limit: number): Head {
  const fields: Field[] = [];
  let at = start;
  while (at < limit) {
    const lf = raw.indexOf('\n', at);
    const lineEnd = lf === -1 || lf >= limit ? limit : lf + 1;
    const line = raw.slice(at, lineEnd).replace(/\r?\n$/, '');
    if (line === '') return { fields, end: at, bodyStart: lineEnd };
    const last = fields.at(-1);
    if ((line.startsWith(' ') || line.startsWith('\t')) && last) {
      last.value += line;
      last.end = lineEnd;
    } else {
      const colon = line.indexOf(':');
      if (colon > 0)
        fields.push({
          name: line.slice(0, colon).trim(),
          value: line.slice(colon + 1).trim(),
          start: at,
          end: lineEnd,
        });
    }
    at = lineEnd;
  }
  return { fields, end: limit, bodyStart: limit };
}

function headersOf(head: Head): PartHeaders {
  return parseHeaders(head.fields.map((f) => `${f.name}: ${f.value}`).join('\r\n'));
}

/** Leaf parts in document order; message/rfc822 parts are leaves (never entered). */
function collectLeaves(raw: string, end: number, head: Head, out: Leaf[], depth: number): void {
  const headers = headersOf(head);
  const boundary = headers.params.get('boundary');
  if (!headers.type.startsWith('multipart/') || !boundary || depth > 20) {
    out.push({ head, headers, end });
    return;
  }
  const escaped = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const delimiter = new RegExp(`(?:^|\\r?\\n)--${escaped}(--)?[ \\t]*(?:\\r?\\n|$)`, 'g');
  // From the blank line: when the body opens with a delimiter, that line break is its own.
  delimiter.lastIndex = head.end;
  let partStart = -1;
  for (let m = delimiter.exec(raw); m && m.index < end; m = delimiter.exec(raw)) {
    if (partStart !== -1) collectLeaves(raw, m.index, readHead(raw, partStart, m.index), out, depth + 1);
    if (m[1]) return;
    partStart = m.index + m[0].length;
  }
}

/** A part's text through its transfer encoding and charset; null when it cannot be read. */
function decodeText(raw: string, leaf: Leaf, kind: string): string | null {
  const body = raw.slice(leaf.head.bodyStart, leaf.end);
  const cte = parseCte(leaf.headers.cte);
  if (cte === null) return null;
  if (cte !== 'quoted-printable' && cte !== 'base64') return body;
  const decoder = charsetDecoder(leaf.headers.params.get('charset'));
  if (typeof decoder === 'string') {
    if (body.includes('{{')) throw new TemplateError('compiling', kind, 1, decoder);
    return null;
  }
  return decoder.decode(decodeBody(Buffer.from(body, 'utf8'), cte));
}
