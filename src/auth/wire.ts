/**
 * The Dovecot authentication protocol (client ⇄ auth server, v1.x), as a pure codec: bytes in,
 * typed client messages out; typed server messages in, lines out. No sockets, no state beyond the
 * line buffer. Contract:
 * - a line ends with LF (a CR before it is tolerated); a line longer than `maxLineLength` bytes,
 *   a NUL byte or bytes that are not UTF-8 are errors (the caller closes the connection);
 * - fields are TAB-separated and use Dovecot's tab-escaping: \001 followed by 0 (NUL), 1 (\001),
 *   t (TAB), r (CR) or n (LF); any other character after \001 stands for itself;
 * - `resp=` is the last AUTH parameter: everything after it is ignored, as the protocol requires;
 * - unknown optional parameters are kept but carry no meaning, as the protocol requires.
 * Every failure is a WireError with a code and a message that can be logged as is (no secrets:
 * a message never quotes a field's content).
 */

export const PROTOCOL_MAJOR = 1;
export const PROTOCOL_MINOR = 2;

export type WireErrorCode = 'line-too-long' | 'encoding' | 'malformed' | 'unknown-command';

export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

/** The parameters of an AUTH request that mean something to us; the rest stay in `extra`. */
export interface AuthParams {
  service: string;
  /** Remote (SMTP client) address, as the auth client saw it. */
  rip: string | undefined;
  lip: string | undefined;
  /** The SMTP client reached the auth client over TLS (or another secure channel). */
  secured: boolean;
  /** Initial response, base64 as sent (may be empty). */
  resp: string | undefined;
  extra: Record<string, string | true>;
}

export type ClientMessage =
  | { type: 'VERSION'; major: number; minor: number }
  | { type: 'CPID'; pid: string }
  | { type: 'AUTH'; id: number; mechanism: string; params: AuthParams }
  | { type: 'CONT'; id: number; data: string }
  | { type: 'CANCEL'; id: number };

export type ServerMessage =
  | { type: 'VERSION'; major: number; minor: number }
  | { type: 'SPID'; pid: string }
  | { type: 'CUID'; id: string }
  | { type: 'COOKIE'; cookie: string }
  | { type: 'MECH'; name: string; flags: string[] }
  | { type: 'DONE' }
  | { type: 'CONT'; id: number; data: string }
  | { type: 'OK'; id: number; params: Array<[string, string | true]> }
  | { type: 'FAIL'; id: number; params: Array<[string, string | true]> };

export type Decoded = { ok: true; message: ClientMessage } | { ok: false; error: WireError };

// ---------------------------------------------------------------------------------------------
// Framing

const LF = 0x0a;

/**
 * Splits a byte stream into lines. After an error it stays failed: the stream position is lost,
 * so nothing after it can be trusted.
 */
export class LineFramer {
  private parts: Buffer[] = [];
  private buffered = 0;
  private failed: WireError | null = null;

  constructor(private readonly maxLineLength: number) {}

  /** Complete lines (without LF) from this chunk, or the error that ends the stream. */
  push(chunk: Buffer): { lines: Buffer[]; error: WireError | null } {
    const lines: Buffer[] = [];
    if (this.failed) return { lines, error: this.failed };
    let start = 0;
    for (;;) {
      const eol = chunk.indexOf(LF, start);
      const end = eol === -1 ? chunk.length : eol;
      if (this.buffered + (end - start) > this.maxLineLength) {
        this.failed = new WireError('line-too-long', `line longer than ${this.maxLineLength} bytes`);
        this.parts = [];
        return { lines, error: this.failed };
      }
      if (eol === -1) {
        if (end > start) {
          this.parts.push(chunk.subarray(start));
          this.buffered += end - start;
        }
        return { lines, error: null };
      }
      const piece = chunk.subarray(start, eol);
      lines.push(this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece]));
      this.parts = [];
      this.buffered = 0;
      start = eol + 1;
    }
  }

  /** Bytes of an unfinished line (a stream that ends here was truncated). */
  get pending(): number {
    return this.buffered;
  }
}

// ---------------------------------------------------------------------------------------------
// Escaping

export function tabEscape(value: string): string {
  let out = '';
  for (const c of value) {
    const escaped = ESCAPES[c];
    out += escaped === undefined ? c : `\x01${escaped}`;
  }
  return out;
}

const ESCAPES: Record<string, string> = { '\0': '0', '\x01': '1', '\t': 't', '\r': 'r', '\n': 'n' };
const UNESCAPES: Record<string, string> = { '0': '\0', '1': '\x01', t: '\t', r: '\r', n: '\n' };

export function tabUnescape(value: string): string {
  if (!value.includes('\x01')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c !== '\x01') {
      out += c;
      continue;
    }
    const next = value[++i];
    if (next === undefined) throw new WireError('malformed', 'escape character at the end of a field');
    out += UNESCAPES[next] ?? next;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding client lines

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ID = /^[0-9]{1,10}$/;

export function decodeLine(raw: Buffer): Decoded {
  try {
    return { ok: true, message: parse(raw) };
  } catch (error) {
    if (error instanceof WireError) return { ok: false, error };
    throw error;
  }
}

function parse(raw: Buffer): ClientMessage {
  const bytes = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.subarray(0, -1) : raw;
  if (bytes.includes(0)) throw new WireError('encoding', 'NUL byte in a line');
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new WireError('encoding', 'line is not valid UTF-8');
  }
  const fields = text.split('\t');
  const command = fields[0] ?? '';
  switch (command) {
    case 'VERSION': {
      const major = number(fields[1], 'VERSION major');
      const minor = number(fields[2], 'VERSION minor');
      return { type: 'VERSION', major, minor };
    }
    case 'CPID': {
      const pid = fields[1];
      if (pid === undefined || pid === '') throw new WireError('malformed', 'CPID without a pid');
      return { type: 'CPID', pid: tabUnescape(pid) };
    }
    case 'AUTH': {
      const id = requestId(fields[1], 'AUTH');
      const mechanism = fields[2];
      if (!mechanism || !/^[A-Za-z0-9_-]{1,32}$/.test(mechanism))
        throw new WireError('malformed', 'AUTH without a valid mechanism name');
      return { type: 'AUTH', id, mechanism: mechanism.toUpperCase(), params: authParams(fields.slice(3)) };
    }
    case 'CONT': {
      const id = requestId(fields[1], 'CONT');
      if (fields.length > 3) throw new WireError('malformed', 'CONT with more than one data field');
      return { type: 'CONT', id, data: tabUnescape(fields[2] ?? '') };
    }
    case 'CANCEL':
      return { type: 'CANCEL', id: requestId(fields[1], 'CANCEL') };
    default:
      throw new WireError('unknown-command', `unknown command "${printable(command)}"`);
  }
}

function authParams(fields: string[]): AuthParams {
  const params: AuthParams = {
    service: '',
    rip: undefined,
    lip: undefined,
    secured: false,
    resp: undefined,
    extra: {},
  };
  for (const field of fields) {
    const eq = field.indexOf('=');
    const name = eq === -1 ? field : field.slice(0, eq);
    if (name === '') throw new WireError('malformed', 'AUTH parameter without a name');
    const value = eq === -1 ? true : tabUnescape(field.slice(eq + 1));
    if (name === 'resp') {
      params.resp = value === true ? '' : value;
      break; // The protocol: everything after resp= is ignored.
    }
    if (name === 'service' && typeof value === 'string') params.service = value;
    else if (name === 'rip' && typeof value === 'string') params.rip = value;
    else if (name === 'lip' && typeof value === 'string') params.lip = value;
    // `secured` or `secured=tls`: both mean the client's channel is protected.
    else if (name === 'secured') params.secured = true;
    else params.extra[name] = value;
  }
  if (params.service === '') throw new WireError('malformed', 'AUTH without service=');
  return params;
}

function number(field: string | undefined, what: string): number {
  if (field === undefined || !/^[0-9]{1,9}$/.test(field)) throw new WireError('malformed', `bad ${what}`);
  return Number(field);
}

function requestId(field: string | undefined, command: string): number {
  if (field === undefined || !ID.test(field))
    throw new WireError('malformed', `${command} without a valid id`);
  const id = Number(field);
  if (id > 0xffffffff) throw new WireError('malformed', `${command} id is not a 32-bit number`);
  return id;
}

/** A command name fit for a log line: short, printable ASCII only. */
function printable(value: string): string {
  return value.slice(0, 32).replace(/[^\x20-\x7e]/g, '?');
}

// ---------------------------------------------------------------------------------------------
// Encoding server lines

export function encode(message: ServerMessage): string {
  const fields: string[] = [message.type];
  switch (message.type) {
    case 'VERSION':
      fields.push(String(message.major), String(message.minor));
      break;
    case 'SPID':
      fields.push(tabEscape(message.pid));
      break;
    case 'CUID':
      fields.push(tabEscape(message.id));
      break;
    case 'COOKIE':
      fields.push(tabEscape(message.cookie));
      break;
    case 'MECH':
      fields.push(tabEscape(message.name), ...message.flags.map(tabEscape));
      break;
    case 'DONE':
      break;
    case 'CONT':
      fields.push(String(message.id), tabEscape(message.data));
      break;
    case 'OK':
    case 'FAIL':
      fields.push(String(message.id));
      for (const [name, value] of message.params)
        fields.push(value === true ? tabEscape(name) : `${tabEscape(name)}=${tabEscape(value)}`);
      break;
  }
  return `${fields.join('\t')}\n`;
}
