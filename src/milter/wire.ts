/**
 * The mail filter (milter) protocol v6 as a pure codec: bytes in, typed packets out, and back.
 * No sockets, no state beyond the framer's buffer. Contract:
 * - a packet is a 4-byte big-endian length (counting the command byte), the command byte, then
 *   the payload; a length of 0 or above `maxPacketSize` is an error as soon as its 4 bytes are
 *   seen: nothing is ever allocated from a length, only from bytes that really arrived;
 * - strings are NUL-terminated and decoded as UTF-8; a field missing its NUL, a short integer
 *   field, bytes left over after the last field, or an unknown command is an error;
 * - both directions are here (MTA commands and filter responses, each decoded and encoded), so a
 *   filter and a test MTA share one definition; session.ts gives the packets their meaning.
 * Every failure is a WireError whose message can be logged as is (it never quotes payload bytes).
 */
import { COMMAND_CODES, MAX_BODY_CHUNK, type MacroStage, RESPONSE_CODES, SMFIM } from './constants.js';

export type WireErrorCode = 'length' | 'malformed' | 'unknown-command' | 'invalid-response';

export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

export interface Packet {
  code: string;
  payload: Buffer;
}

export type ConnectFamily = 'inet' | 'inet6' | 'unix' | 'unknown';

export type MilterCommand =
  | { kind: 'optneg'; version: number; actions: number; protocol: number }
  | { kind: 'connect'; hostname: string; family: ConnectFamily; port: number; address: string }
  | { kind: 'helo'; helo: string }
  | { kind: 'mail' | 'rcpt'; args: string[] }
  | { kind: 'header'; name: string; value: string }
  | { kind: 'body' | 'eom'; chunk: Buffer }
  | { kind: 'unknown'; command: string }
  | { kind: 'macro'; stage: string; macros: Array<[string, string]> }
  | { kind: 'abort' | 'data' | 'eoh' | 'quit' | 'quit_nc' };

export type MacroLists = Partial<Record<MacroStage, string[]>>;

export type MilterResponse =
  | { kind: 'optneg'; version: number; actions: number; protocol: number; macros?: MacroLists }
  | { kind: 'continue' | 'accept' | 'reject' | 'tempfail' | 'discard' | 'skip' | 'progress' }
  | { kind: 'replycode'; code: number; enhanced: string | null; lines: string[] }
  | { kind: 'addheader'; name: string; value: string }
  | { kind: 'insheader' | 'chgheader'; index: number; name: string; value: string }
  | { kind: 'replbody'; chunk: Buffer }
  | { kind: 'chgfrom'; sender: string; args: string | null }
  | { kind: 'addrcpt' | 'delrcpt'; rcpt: string }
  | { kind: 'addrcpt_par'; rcpt: string; args: string | null }
  | { kind: 'quarantine'; reason: string };

// ---------------------------------------------------------------------------------------------
// Framing

export class PacketFramer {
  private parts: Buffer[] = [];
  private buffered = 0;
  private failed: WireError | null = null;

  constructor(private readonly maxPacketSize: number) {}

  /** Complete packets from this chunk, or the error that ends the stream (it stays failed). */
  push(chunk: Buffer): { packets: Packet[]; error: WireError | null } {
    const packets: Packet[] = [];
    if (this.failed) return { packets, error: this.failed };
    if (chunk.length > 0) {
      this.parts.push(chunk);
      this.buffered += chunk.length;
    }
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length === 0 || length > this.maxPacketSize) {
        this.failed = new WireError(
          'length',
          length === 0
            ? 'packet length 0'
            : `packet length ${length} over the limit of ${this.maxPacketSize}`,
        );
        this.parts = [];
        this.buffered = 0;
        return { packets, error: this.failed };
      }
      if (this.buffered < 4 + length) break;
      const whole = this.take(4 + length);
      packets.push({ code: String.fromCharCode(whole[4]!), payload: whole.subarray(5) });
    }
    return { packets, error: null };
  }

  /** Bytes of an unfinished packet (a stream that ends here was truncated). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.parts[0]!.length < n) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.parts[0]!.length < n) this.parts = [Buffer.concat(this.parts)];
    const first = this.parts[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.parts.shift();
    else this.parts[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/** One packet's bytes: length, code, payload. */
export function frame(code: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length + 1, 0);
  head[4] = code.charCodeAt(0);
  return Buffer.concat([head, payload]);
}

// ---------------------------------------------------------------------------------------------
// Field readers and writers

class Reader {
  private at = 0;
  constructor(
    private readonly data: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.data.length - this.at;
  }

  u32(): number {
    if (this.remaining < 4) throw malformed(`${this.what}: truncated 32-bit field`);
    const v = this.data.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  u16(): number {
    if (this.remaining < 2) throw malformed(`${this.what}: truncated 16-bit field`);
    const v = this.data.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  byte(): number {
    if (this.remaining < 1) throw malformed(`${this.what}: missing byte`);
    return this.data[this.at++]!;
  }

  string(): string {
    const nul = this.data.indexOf(0, this.at);
    if (nul === -1) throw malformed(`${this.what}: string without its NUL`);
    const s = this.data.toString('utf8', this.at, nul);
    this.at = nul + 1;
    return s;
  }

  rest(): Buffer {
    const out = this.data.subarray(this.at);
    this.at = this.data.length;
    return out;
  }

  end(): void {
    if (this.remaining !== 0) throw malformed(`${this.what}: ${this.remaining} unexpected trailing bytes`);
  }
}

const malformed = (message: string) => new WireError('malformed', message);

function cstrings(values: readonly string[]): Buffer {
  for (const v of values)
    if (v.includes('\0')) throw new WireError('invalid-response', 'a string field contains a NUL');
  return Buffer.from(values.map((v) => `${v}\0`).join(''), 'utf8');
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** Every NUL-terminated string of a payload; at least `min` of them. */
function strings(r: Reader, min: number): string[] {
  const out: string[] = [];
  while (r.remaining > 0) out.push(r.string());
  if (out.length < min) throw malformed('missing string fields');
  return out;
}

// ---------------------------------------------------------------------------------------------
// MTA → filter

const FAMILIES: Record<string, ConnectFamily> = { '4': 'inet', '6': 'inet6', L: 'unix', U: 'unknown' };
const FAMILY_CODES: Record<ConnectFamily, string> = { inet: '4', inet6: '6', unix: 'L', unknown: 'U' };
const COMMAND_KINDS = new Map<string, string>(Object.entries(COMMAND_CODES).map(([k, c]) => [c, k]));
const RESPONSE_KINDS = new Map<string, string>(Object.entries(RESPONSE_CODES).map(([k, c]) => [c, k]));

export function decodeCommand(packet: Packet): MilterCommand {
  const kind = COMMAND_KINDS.get(packet.code) as MilterCommand['kind'] | undefined;
  if (kind === undefined)
    throw new WireError(
      'unknown-command',
      `unknown command byte 0x${packet.code.charCodeAt(0).toString(16)}`,
    );
  const r = new Reader(packet.payload, kind);
  let command: MilterCommand;
  switch (kind) {
    case 'optneg':
      // libmilter takes longer OPTNEG packets from newer MTAs; the first three fields are v6's.
      command = { kind, version: r.u32(), actions: r.u32(), protocol: r.u32() };
      r.rest();
      break;
    case 'connect': {
      const hostname = r.string();
      const family = FAMILIES[String.fromCharCode(r.byte())];
      if (!family) throw malformed('connect: unknown address family');
      const port = family === 'unknown' ? 0 : r.u16();
      const address = family === 'unknown' ? '' : r.string();
      command = { kind, hostname, family, port, address };
      break;
    }
    case 'helo':
      command = { kind, helo: r.string() };
      break;
    case 'mail':
    case 'rcpt':
      command = { kind, args: strings(r, 1) };
      break;
    case 'header':
      command = { kind, name: r.string(), value: r.string() };
      break;
    case 'body':
    case 'eom':
      command = { kind, chunk: r.rest() };
      break;
    case 'unknown':
      command = { kind, command: r.string() };
      break;
    case 'macro': {
      const stage = String.fromCharCode(r.byte());
      const fields = strings(r, 0);
      if (fields.length % 2 !== 0) throw malformed('macro: a name without its value');
      const macros: Array<[string, string]> = [];
      for (let i = 0; i < fields.length; i += 2) macros.push([fields[i]!, fields[i + 1]!]);
      command = { kind, stage, macros };
      break;
    }
    default:
      command = { kind };
  }
  r.end();
  return command;
}

export function encodeCommand(command: MilterCommand): Buffer {
  const code = COMMAND_CODES[command.kind];
  switch (command.kind) {
    case 'optneg':
      return frame(code, Buffer.concat([u32(command.version), u32(command.actions), u32(command.protocol)]));
    case 'connect': {
      const parts = [cstrings([command.hostname]), Buffer.from(FAMILY_CODES[command.family], 'latin1')];
      if (command.family !== 'unknown') {
        const port = Buffer.alloc(2);
        port.writeUInt16BE(command.port, 0);
        parts.push(port, cstrings([command.address]));
      }
      return frame(code, Buffer.concat(parts));
    }
    case 'helo':
      return frame(code, cstrings([command.helo]));
    case 'mail':
    case 'rcpt':
      return frame(code, cstrings(command.args));
    case 'header':
      return frame(code, cstrings([command.name, command.value]));
    case 'body':
    case 'eom':
      return frame(code, command.chunk);
    case 'unknown':
      return frame(code, cstrings([command.command]));
    case 'macro':
      return frame(
        code,
        Buffer.concat([Buffer.from(command.stage.slice(0, 1), 'latin1'), cstrings(command.macros.flat())]),
      );
    default:
      return frame(code);
  }
}

// ---------------------------------------------------------------------------------------------
// Filter → MTA

const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3}$/;
const MACRO_STAGES = Object.entries(SMFIM) as Array<[MacroStage, number]>;

export function encodeResponse(response: MilterResponse): Buffer {
  const code = RESPONSE_CODES[response.kind];
  switch (response.kind) {
    case 'optneg': {
      const parts = [u32(response.version), u32(response.actions), u32(response.protocol)];
      for (const [stage, number] of MACRO_STAGES) {
        const names = response.macros?.[stage];
        if (names && names.length > 0) parts.push(u32(number), cstrings([names.join(' ')]));
      }
      return frame(code, Buffer.concat(parts));
    }
    case 'replycode':
      return frame(code, cstrings([formatReply(response.code, response.enhanced, response.lines)]));
    case 'addheader':
      return frame(code, cstrings([response.name, response.value]));
    case 'insheader':
    case 'chgheader':
      return frame(code, Buffer.concat([u32(response.index), cstrings([response.name, response.value])]));
    case 'replbody':
      if (response.chunk.length > MAX_BODY_CHUNK)
        throw new WireError('invalid-response', `replace-body chunk over ${MAX_BODY_CHUNK} bytes`);
      return frame(code, response.chunk);
    case 'chgfrom':
    case 'addrcpt_par': {
      const first = response.kind === 'chgfrom' ? response.sender : response.rcpt;
      return frame(code, cstrings(response.args === null ? [first] : [first, response.args]));
    }
    case 'addrcpt':
    case 'delrcpt':
      return frame(code, cstrings([response.rcpt]));
    case 'quarantine':
      return frame(code, cstrings([response.reason]));
    default:
      return frame(code);
  }
}

/**
 * A well-formed SMTP reply for SMFIR_REPLYCODE: 4xx/5xx, an enhanced code of the same class,
 * one line per entry joined by CRLF ("550-5.6.0 …" then "550 5.6.0 …"), "%" doubled as
 * Sendmail requires (Postfix undoes it).
 */
export function formatReply(code: number, enhanced: string | null, lines: readonly string[]): string {
  if (!Number.isInteger(code) || code < 400 || code > 599)
    throw new WireError('invalid-response', `reply code ${code} is not 4xx or 5xx`);
  if (enhanced !== null && (!ENHANCED.test(enhanced) || enhanced[0] !== String(code)[0]))
    throw new WireError('invalid-response', `enhanced code ${enhanced} does not match ${code}`);
  if (lines.length === 0) throw new WireError('invalid-response', 'a reply needs at least one line');
  return lines
    .map((line, i) => {
      if (/[\r\n\0]/.test(line))
        throw new WireError('invalid-response', 'a reply line contains CR, LF or NUL');
      const sep = i === lines.length - 1 ? ' ' : '-';
      const text = `${code}${sep}${enhanced === null ? '' : `${enhanced} `}${line.replaceAll('%', '%%')}`;
      if (Buffer.byteLength(text) > 512)
        throw new WireError('invalid-response', 'a reply line over 512 bytes');
      return text;
    })
    .join('\r\n');
}

export function decodeResponse(packet: Packet): MilterResponse {
  const kind = RESPONSE_KINDS.get(packet.code) as MilterResponse['kind'] | undefined;
  if (kind === undefined)
    throw new WireError(
      'unknown-command',
      `unknown response byte 0x${packet.code.charCodeAt(0).toString(16)}`,
    );
  const r = new Reader(packet.payload, kind);
  let response: MilterResponse;
  switch (kind) {
    case 'optneg': {
      response = { kind, version: r.u32(), actions: r.u32(), protocol: r.u32() };
      const macros: MacroLists = {};
      while (r.remaining > 0) {
        const number = r.u32();
        const stage = MACRO_STAGES.find(([, n]) => n === number)?.[0];
        const names = r.string();
        if (stage) macros[stage] = names.split(' ').filter((n) => n !== '');
      }
      if (Object.keys(macros).length > 0) response.macros = macros;
      break;
    }
    case 'replycode':
      response = parseReply(r.string());
      break;
    case 'addheader':
      response = { kind, name: r.string(), value: r.string() };
      break;
    case 'insheader':
    case 'chgheader':
      response = { kind, index: r.u32(), name: r.string(), value: r.string() };
      break;
    case 'replbody':
      response = { kind, chunk: r.rest() };
      break;
    case 'chgfrom':
    case 'addrcpt_par': {
      const [first, args] = [r.string(), r.remaining > 0 ? r.string() : null];
      response = kind === 'chgfrom' ? { kind, sender: first, args } : { kind, rcpt: first, args };
      break;
    }
    case 'addrcpt':
    case 'delrcpt':
      response = { kind, rcpt: r.string() };
      break;
    case 'quarantine':
      response = { kind, reason: r.string() };
      break;
    default:
      response = { kind };
  }
  r.end();
  return response;
}

const REPLY_LINE = /^([45]\d\d)([ -])(?:([245]\.\d{1,3}\.\d{1,3}) )?(.*)$/s;

function parseReply(text: string): MilterResponse {
  let code = 0;
  let enhanced: string | null = null;
  const lines = text.split('\r\n').map((line) => {
    const m = REPLY_LINE.exec(line);
    if (!m) throw malformed('replycode: not an SMTP reply');
    code = Number(m[1]);
    enhanced = m[3] ?? null;
    return m[4]!.replaceAll('%%', '%');
  });
  return { kind: 'replycode', code, enhanced, lines };
}
