/**
 * Click and open tracking for one HTML document, with htmlparser2's tokenizer (never regexes).
 *
 * Contract: the output is the input with exactly these edits and every other character kept —
 *  - the value of each http(s) href of <a>/<area> becomes the tracking URL (trackLink's answer),
 *    unless the tag says data-msys-clicktrack="0" or trackLink answers null;
 *  - data-msys-linkname="…" names the link (at most 63 bytes) and is removed from the tag;
 *  - an initial-open pixel right after the first <body …> (at the very start when there is none),
 *    an open pixel right before the last </body> (at the very end when there is none, or before
 *    an unterminated comment or tag that runs to the end, where it would not be seen).
 * Edits are made by splicing at source offsets the tokenizer reports, not by re-serialising a DOM,
 * so broken markup stays exactly as broken as it was. Links inside comments (Outlook's
 * <!--[if mso]> blocks) are left alone: they are not markup to the tokenizer.
 *
 * `source` is usually a "byte string" (one character per byte, latin1), which keeps offsets equal
 * to byte offsets in any ASCII-compatible charset; `decode` turns a raw slice of it into real text
 * (the charset's decoder) so the link target in the token is the URL the author wrote.
 *
 * Speed: the tokenizer runs with entity decoding off (it then skips through text and values
 * without looking at each "&"); only the attributes of <a>/<area> are decoded, with the same
 * decoder in the same attribute mode the tokenizer uses (entities' decodeHTMLAttribute), after
 * the charset decoder — entity references are ASCII, so the order does not matter.
 */
import { decodeHTMLAttribute } from 'entities';
import { QuoteType, Tokenizer } from 'htmlparser2';

export interface HtmlTrackingOptions {
  click: boolean;
  open: boolean;
  /** Returns the absolute tracking URL for a link (ASCII), or null to leave the link as written. */
  trackLink(url: string, name: string): string | null;
  /** Returns the absolute pixel URL (ASCII). */
  pixel(kind: 'initial_open' | 'open'): string;
  /** Raw source slice → text. Default: the slice itself. */
  decode?: (raw: string) => string;
}

export interface HtmlTrackingResult {
  html: string;
  links: number;
  pixels: number;
}

/** The edits trackHtml makes, as offsets into `source`: sorted by start, none overlapping. */
export interface HtmlTrackingEdits {
  edits: Edit[];
  links: number;
  pixels: number;
}

export interface Edit {
  start: number;
  end: number;
  text: string;
}

interface Attr {
  name: string;
  /** From the attribute name to the end of its value (closing quote included). */
  start: number;
  end: number;
  /** The raw value, quotes excluded; null when the attribute has no value. */
  valueStart: number;
  valueEnd: number;
  hasValue: boolean;
  value: string;
}

const LINK_TAGS = new Set(['a', 'area']);
/** The attributes linkEdits reads. */
const LINK_ATTRS = new Set(['href', 'data-msys-linkname', 'data-msys-clicktrack']);
const HTTP_URL = /^https?:\/\//i;
const MAX_LINK_NAME = 63;

export function trackHtml(source: string, options: HtmlTrackingOptions): HtmlTrackingResult {
  const { edits, links, pixels } = htmlEdits(source, options);
  return { html: splice(source, edits), links, pixels };
}

/** trackHtml's edits without applying them: the caller splices bytes (see mime.ts). */
export function htmlEdits(source: string, options: HtmlTrackingOptions): HtmlTrackingEdits {
  const decode = options.decode ?? ((raw: string) => raw);
  const edits: Edit[] = [];
  let tag = '';
  let attrs: Attr[] = [];
  let current: Attr | null = null;
  let linkTag = false;
  let pieces: string[] = [];
  let bodyOpenAt = -1;
  let bodyCloseAt = -1;
  let links = 0;
  // Where the last finished token ends. A document cut off inside a comment or a tag leaves a
  // tail after it; an open pixel appended after that tail would sit inside the comment.
  let complete = 0;
  const done = (end: number) => {
    if (end > complete) complete = end;
  };

  const openTagDone = (endIndex: number) => {
    done(endIndex + 1);
    if (tag === 'body' && bodyOpenAt === -1) bodyOpenAt = endIndex + 1;
    if (linkTag) links += linkEdits(source, attrs, options, edits);
    attrs = [];
  };

  const tokenizer = new Tokenizer(
    { decodeEntities: false },
    {
      onopentagname(start, end) {
        tag = source.slice(start, end).toLowerCase();
        attrs = [];
        linkTag = options.click && LINK_TAGS.has(tag);
      },
      onattribname(start, end) {
        // Only three attributes of <a>/<area> are ever read: skipping the rest (and not decoding
        // their values) keeps long newsletters cheap.
        if (!linkTag) return;
        const name = source.slice(start, end).toLowerCase();
        if (!LINK_ATTRS.has(name)) return;
        current = {
          name,
          start,
          end,
          valueStart: end,
          valueEnd: end,
          hasValue: false,
          value: '',
        };
        pieces = [];
      },
      onattribdata(start, end) {
        if (current) pieces.push(source.slice(start, end));
      },
      // Not called with entity decoding off; the port requires it.
      onattribentity() {},
      onattribend(quote, endIndex) {
        if (!current) return;
        current.end = endIndex;
        if (quote !== QuoteType.NoValue) {
          current.hasValue = true;
          const quoted = quote === QuoteType.Single || quote === QuoteType.Double;
          current.valueEnd = quoted ? endIndex - 1 : endIndex;
          current.valueStart = valueStart(source, current.valueStart, quoted);
          const raw = decode(pieces.join(''));
          current.value = raw.includes('&') ? decodeHTMLAttribute(raw) : raw;
        }
        attrs.push(current);
        current = null;
      },
      onopentagend: openTagDone,
      onselfclosingtag: openTagDone,
      onclosetag(start, end) {
        if (source.slice(start, end).toLowerCase() === 'body') bodyCloseAt = source.lastIndexOf('<', start);
        const gt = source.indexOf('>', end);
        done(gt === -1 ? end : gt + 1);
      },
      // An unterminated comment or CDATA is reported at the end of input with no ">" to close it.
      oncdata(_start, endIndex) {
        if (source[endIndex] === '>') done(endIndex + 1);
      },
      oncomment(_start, endIndex) {
        if (source[endIndex] === '>') done(endIndex + 1);
      },
      ondeclaration(_start, endIndex) {
        done(endIndex + 1);
      },
      onend() {},
      onprocessinginstruction(_start, endIndex) {
        done(endIndex + 1);
      },
      ontext(_start, endIndex) {
        done(endIndex);
      },
      // Not called with entity decoding off; the port requires it.
      ontextentity() {},
    },
  );
  tokenizer.write(source);
  tokenizer.end();

  let pixels = 0;
  if (options.open) {
    edits.push({
      start: Math.max(bodyOpenAt, 0),
      end: Math.max(bodyOpenAt, 0),
      text: pixelTag(options, 'initial_open'),
    });
    const at = bodyCloseAt === -1 ? complete : bodyCloseAt;
    edits.push({ start: at, end: at, text: pixelTag(options, 'open') });
    pixels = 2;
  }
  return { edits: orderEdits(edits), links, pixels };
}

/** Adds the edits for one <a>/<area> tag; returns how many links it tracked. */
function linkEdits(source: string, attrs: Attr[], options: HtmlTrackingOptions, edits: Edit[]): number {
  const href = attrs.find((a) => a.name === 'href');
  const nameAttr = attrs.find((a) => a.name === 'data-msys-linkname');
  const optOut = attrs.find((a) => a.name === 'data-msys-clicktrack');
  if (nameAttr) edits.push({ start: leadingSpace(source, nameAttr.start), end: nameAttr.end, text: '' });
  if (!href?.hasValue || (optOut && optOut.value.trim() === '0')) return 0;
  const url = href.value.trim();
  if (!HTTP_URL.test(url)) return 0;
  const name = nameAttr ? truncateUtf8(nameAttr.value, MAX_LINK_NAME) : '';
  const tracked = options.trackLink(url, name);
  if (tracked === null) return 0;
  edits.push({ start: href.valueStart, end: href.valueEnd, text: tracked });
  return 1;
}

/** Removing an attribute takes the whitespace before it too, so `<a x y>` does not become `<a x  >`. */
function leadingSpace(source: string, start: number): number {
  let i = start;
  while (i > 0 && /[ \t\r\n\f]/.test(source[i - 1]!)) i--;
  return i;
}

/** Finds where a value starts: past the name, the `=` and the whitespace around it, and the quote. */
function valueStart(source: string, nameEnd: number, quoted: boolean): number {
  let i = nameEnd;
  while (i < source.length && /[\s=]/.test(source[i]!)) i++;
  return quoted ? i + 1 : i;
}

function pixelTag(options: HtmlTrackingOptions, kind: 'initial_open' | 'open'): string {
  return (
    `<img src="${options.pixel(kind)}" width="1" height="1" border="0" alt="" ` +
    'style="height:1px !important;width:1px !important;border-width:0 !important;' +
    'margin:0 !important;padding:0 !important" />'
  );
}

/** Sorted by start and without overlaps. */
export function orderEdits(edits: Edit[]): Edit[] {
  // Stable by start (Array.prototype.sort is): the two pixels may share an offset (empty
  // document) and keep their order. The link edits come in order already; the pixels do not.
  const sorted = edits.sort((a, b) => a.start - b.start);
  const kept: Edit[] = [];
  let at = 0;
  for (const e of sorted) {
    if (e.start < at) continue; // overlapping edits cannot come from one tokenizer pass; be safe
    kept.push(e);
    at = e.end;
  }
  return kept;
}

/** Applies ordered edits to a string. */
export function splice(source: string, edits: readonly Edit[]): string {
  if (edits.length === 0) return source;
  const out: string[] = [];
  let at = 0;
  for (const e of edits) {
    out.push(source.slice(at, e.start), e.text);
    at = e.end;
  }
  out.push(source.slice(at));
  return out.join('');
}

export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let out = '';
  let bytes = 0;
  for (const ch of text) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}
