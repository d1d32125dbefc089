/**
 * The mail filter (milter) protocol v6 as a pure codec: bytes in, typed packets out, and back.
 * No sockets, no state beyond the framer's buffer. This file holds the MTA → filter commands
 * (each decoded and encoded, so a test can play the MTA); packet.ts holds framing and the field
 * readers both directions share; responses.ts holds filter → MTA. Everything is re-exported here,
 * so a filter and a test MTA import one module; session.ts gives the packets their meaning.
 * Strings are NUL-terminated UTF-8; a field missing its NUL, a short integer field, bytes left
 * over after the last field, or an unknown command is a WireError that never quotes payload bytes.
 */
import { COMMAND_CODES } from './constants.js';
import { cstrings, frame, malformed, type Packet, Reader, strings, u32, WireError } from './packet.js';

export * from './packet.js';
export * from './responses.js';

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

// ---------------------------------------------------------------------------------------------
// MTA → filter

const FAMILIES: Record<string, ConnectFamily> = { '4': 'inet', '6': 'inet6', L: 'unix', U: 'unknown' };
const FAMILY_CODES: Record<ConnectFamily, string> = { inet: '4', inet6: '6', unix: 'L', unknown: 'U' };
const COMMAND_KINDS = new Map<string, string>(Object.entries(COMMAND_CODES).map(([k, c]) => [c, k]));

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
