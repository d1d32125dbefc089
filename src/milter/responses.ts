/**
 * Filter → MTA: every response a milter sends (continue, accept, reject, replycode, header and
 * body changes, recipients, progress, quarantine), encoded and decoded. Decoding exists so that
 * tests can play the MTA; `y` replies are checked to be well-formed SMTP, multi-line included.
 */
import { MAX_BODY_CHUNK, type MacroStage, RESPONSE_CODES, SMFIM } from './constants.js';
import { cstrings, frame, malformed, type Packet, Reader, u32, WireError } from './packet.js';

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

const RESPONSE_KINDS = new Map<string, string>(Object.entries(RESPONSE_CODES).map(([k, c]) => [c, k]));

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
