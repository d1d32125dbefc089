/**
 * The Postfix policy delegation wire format (SMTPD_POLICY_README), as a pure codec: no sockets.
 * A request is `name=value` lines ended by an empty line; the reply is `action=...` and an empty
 * line. PolicyDecoder frames requests incrementally from arbitrary chunks (a request may span
 * many chunks, a chunk may hold many requests) and yields, in order, either a request or a
 * `malformed` item (the framing survived; the server answers it) or, once, `oversize` (more than
 * `maxRequestBytes` without an end: the stream cannot be trusted and must be closed). Lines end
 * with LF; a CR before it is tolerated. Values are UTF-8 (SMTPUTF8 senders), taken as they are.
 */

export type PolicyAttributes = Map<string, string>;

export type Decoded =
  | { type: 'request'; attributes: PolicyAttributes }
  | { type: 'malformed'; reason: string }
  | { type: 'oversize'; bytes: number };

/** Postfix names attributes in lowercase letters, digits and underscores. */
const NAME = /^[a-z][a-z0-9_]*$/;
const LF = 0x0a;

export class PolicyDecoder {
  private buffered: Buffer = Buffer.alloc(0);
  /** Where the search for the end of the current request resumes. */
  private scanFrom = 0;
  private failed = false;

  constructor(private readonly maxRequestBytes = 65_536) {}

  /** Feeds bytes; returns every item they complete. After `oversize`, returns nothing more. */
  push(chunk: Buffer): Decoded[] {
    if (this.failed) return [];
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: Decoded[] = [];
    let start = 0;
    let i = Math.max(this.scanFrom, 0);
    while (i < this.buffered.length) {
      const lf = this.buffered.indexOf(LF, i);
      if (lf < 0) break;
      // An empty line: LF right after the start of the request or after the previous LF (CR tolerated).
      const lineStart = i;
      const empty = lf === lineStart || (lf === lineStart + 1 && this.buffered[lineStart] === 0x0d);
      if (empty) {
        if (lineStart === start) {
          // Blank lines between requests are noise, not empty requests.
          start = lf + 1;
        } else {
          out.push(parseRequest(this.buffered.subarray(start, lineStart)));
          start = lf + 1;
        }
      } else if (lf + 1 - start > this.maxRequestBytes) {
        return this.fail(out, lf + 1 - start);
      }
      i = lf + 1;
    }
    const pending = this.buffered.length - start;
    if (pending > this.maxRequestBytes) return this.fail(out, pending);
    this.buffered = start === 0 ? this.buffered : this.buffered.subarray(start);
    this.scanFrom = i - start;
    // Copy a small leftover so a huge chunk's memory is not kept alive by a short tail.
    if (start > 0 && this.buffered.length > 0 && this.buffered.length < 4096)
      this.buffered = Buffer.from(this.buffered);
    return out;
  }

  /** Bytes of an unfinished request (a peer that closes with some left sent a truncated request). */
  pendingBytes(): number {
    return this.failed ? 0 : this.buffered.length;
  }

  private fail(out: Decoded[], bytes: number): Decoded[] {
    this.failed = true;
    this.buffered = Buffer.alloc(0);
    out.push({ type: 'oversize', bytes });
    return out;
  }
}

/** One request's lines (without the final empty line) into attributes, or why they are not one. */
export function parseRequest(bytes: Buffer): Decoded {
  if (bytes.includes(0)) return { type: 'malformed', reason: 'NUL byte in request' };
  const attributes: PolicyAttributes = new Map();
  let lineNo = 0;
  for (let line of bytes.toString('utf8').split('\n')) {
    lineNo++;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) return { type: 'malformed', reason: `line ${lineNo} has no "=": ${preview(line)}` };
    const name = line.slice(0, eq);
    if (!NAME.test(name))
      return { type: 'malformed', reason: `line ${lineNo}: bad attribute name ${preview(name)}` };
    attributes.set(name, line.slice(eq + 1));
  }
  if (attributes.size === 0) return { type: 'malformed', reason: 'request without attributes' };
  return { type: 'request', attributes };
}

/** The reply for an action; an action with a line break would corrupt the stream, so it is refused. */
export function encodeAction(action: string): Buffer {
  if (/[\r\n\0]/.test(action))
    throw new Error(`policy action contains a line break or NUL: ${preview(action)}`);
  return Buffer.from(`action=${action}\n\n`, 'utf8');
}

/** A short, printable rendering of client bytes for log lines. */
export function preview(text: string, max = 60): string {
  const shown = JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
  return shown;
}
