/**
 * Click tracking for text/plain: each bare http(s) URL becomes its tracking URL; every other
 * character is kept. A URL is a run of printable ASCII without spaces, quotes or angle brackets
 * (so `<https://…>` and `"https://…"` work), minus trailing sentence punctuation, and a closing
 * parenthesis it did not open. The source is a byte string (one character per byte) and
 * percent-encoding is how a URL in mail carries anything else, so a URL directly followed by a
 * non-ASCII byte (an IRI) is not tracked at all rather than tracked in part.
 */

import { type Edit, splice } from './html.js';

const URL_RUN = /https?:\/\/[\x21\x23-\x3b\x3d\x3f-\x7e]+/gi;
const TRAILING = /[.,;:!?'*]+$/;

export interface TextTrackingResult {
  text: string;
  links: number;
}

/** trackLink answers the tracking URL, or null to leave the URL as written. */
export function trackText(source: string, trackLink: (url: string) => string | null): TextTrackingResult {
  const { edits, links } = textEdits(source, trackLink);
  return { text: splice(source, edits), links };
}

/** trackText's edits (sorted, not overlapping) without applying them: the caller splices bytes. */
export function textEdits(
  source: string,
  trackLink: (url: string) => string | null,
): { edits: Edit[]; links: number } {
  const edits: Edit[] = [];
  URL_RUN.lastIndex = 0;
  for (let m = URL_RUN.exec(source); m; m = URL_RUN.exec(source)) {
    const match = m[0];
    const offset = m.index;
    // "xhttp://" is not a URL start; a letter or digit right before means we are inside a word.
    if (offset > 0 && /[A-Za-z0-9]/.test(source[offset - 1]!)) continue;
    // "https://x.example/ü": a reader's client may link the whole IRI, which would then end in
    // the tracking URL plus "ü" and miss; a URL glued to a non-ASCII byte is left as written.
    if (source.charCodeAt(offset + match.length) >= 0x80) continue;
    let url = match.replace(TRAILING, '');
    while (url.endsWith(')') && count(url, '(') < count(url, ')'))
      url = url.slice(0, -1).replace(TRAILING, '');
    if (!/^https?:\/\/[^/?#]/i.test(url)) continue;
    const tracked = trackLink(url);
    if (tracked === null) continue;
    edits.push({ start: offset, end: offset + url.length, text: tracked });
  }
  return { edits, links: edits.length };
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}
