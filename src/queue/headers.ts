/**
 * The header section of a spooled message, for the operator console's message view: each field
 * unfolded, its value with RFC 2047 encoded-words decoded, as a person reads it. At most
 * `maxBytes` are read. Spool files are recycled (spool-recycle.ts), so the footer is checked after
 * the headers were read, on the same open file: while it still names this message, the bytes read
 * before it were this message's (a recycled file is cut first and never takes an id twice).
 */
import { open } from 'node:fs/promises';
import { decodeMimeWords } from '../core/mime-words.js';
import type { Spool } from './spool.js';
import { decodeFooter, FOOTER_LENGTH } from './spool-format.js';

export interface HeaderField {
  name: string;
  value: string;
}

export interface HeaderSection {
  fields: HeaderField[];
  /** The section was longer than what was read. */
  truncated: boolean;
}

/** null: no such message in the spool (delivered, removed, or never there). */
export async function readHeaderSection(
  spool: Spool,
  id: string,
  maxBytes = 64 * 1024,
): Promise<HeaderSection | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(spool.fileOf(id), 'r');
  } catch {
    return null;
  }
  try {
    const { size } = await handle.stat();
    if (size < FOOTER_LENGTH) return null;
    const head = Buffer.alloc(Math.min(maxBytes, size));
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const footer = Buffer.alloc(FOOTER_LENGTH);
    await handle.read(footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH);
    const layout = decodeFooter(footer, size);
    if (!layout) return null;
    const json = Buffer.alloc(layout.jsonLength);
    await handle.read(json, 0, layout.jsonLength, layout.messageLength);
    const envelope = JSON.parse(json.toString('utf8')) as { spool_id?: string };
    if (envelope.spool_id !== undefined && envelope.spool_id !== id) return null;
    const message = head.subarray(0, Math.min(bytesRead, layout.messageLength));
    const end = message.indexOf('\r\n\r\n');
    const section = end === -1 ? message : message.subarray(0, end);
    return {
      fields: parseFields(section.toString('utf8')),
      truncated: end === -1 && layout.messageLength > message.length,
    };
  } catch {
    return null;
  } finally {
    await handle.close();
  }
}

function parseFields(text: string): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && fields.length > 0) {
      fields[fields.length - 1]!.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    fields.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim() });
  }
  for (const field of fields) field.value = decodeMimeWords(field.value);
  return fields;
}
