/**
 * Reading spool files, and nothing else: the envelope of a message file (footer checked, spool id
 * checked, so an incomplete or recycled file never reads as a message), its side files (`.done`,
 * `.hold`), the ids in a spool directory, and a message's bytes. The Spool reads through these,
 * and so do the queue tools when no server is running (queue/offline-view.ts): nothing here
 * writes, creates or removes a file, so it is safe next to a running server.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeFooter, FOOTER_LENGTH, type SpoolEnvelope } from './spool-format.js';

export const ID_PATTERN = /^[0-9a-f]{20}$/;

/** Where the message files of a data_dir are. */
export function spoolQueueDir(dataDir: string): string {
  return path.join(dataDir, 'spool', 'queue');
}

export interface EnvelopeRead {
  envelope: SpoolEnvelope;
  messageLength: number;
}

/** The envelope of spool file `file` for message `id`; null if it is not a complete message file of that id. */
export async function readEnvelope(file: string, id: string): Promise<EnvelopeRead | null> {
  const { size } = await stat(file);
  if (size < FOOTER_LENGTH) return null;
  const handle = await open(file, 'r');
  try {
    return await envelopeFrom(handle, size, id);
  } finally {
    await handle.close();
  }
}

async function envelopeFrom(
  handle: Awaited<ReturnType<typeof open>>,
  size: number,
  id: string,
): Promise<EnvelopeRead | null> {
  const footer = Buffer.alloc(FOOTER_LENGTH);
  await handle.read(footer, 0, FOOTER_LENGTH, size - FOOTER_LENGTH);
  const layout = decodeFooter(footer, size);
  if (!layout) return null;
  const json = Buffer.alloc(layout.jsonLength);
  await handle.read(json, 0, layout.jsonLength, layout.messageLength);
  const { spool_id, ...envelope } = JSON.parse(json.toString('utf8')) as SpoolEnvelope & {
    spool_id?: string;
  };
  // A recycled file never reads as another message (spool-recycle.ts).
  if (spool_id !== undefined && spool_id !== id) return null;
  return { envelope, messageLength: layout.messageLength };
}

/**
 * The message bytes of `id`, read whole, or null if there is no such message. The envelope is
 * read again afterwards: a server running meanwhile may deliver the message and recycle its file
 * for another one, and bytes read across that are refused rather than shown as this message.
 */
export async function readMessageBytes(dir: string, id: string): Promise<Buffer | null> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path.join(dir, id), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const before = await handle.stat();
    const read = before.size >= FOOTER_LENGTH ? await envelopeFrom(handle, before.size, id) : null;
    if (!read) return null;
    const bytes = Buffer.alloc(read.messageLength);
    const { bytesRead } = await handle.read(bytes, 0, read.messageLength, 0);
    const after = await handle.stat();
    const again = after.size === before.size ? await envelopeFrom(handle, after.size, id) : null;
    if (bytesRead !== read.messageLength || !again || again.messageLength !== read.messageLength) return null;
    return bytes;
  } finally {
    await handle.close();
  }
}

/** Recipients already final (delivered or bounced), from `<id>.done`. */
export async function readDone(dir: string, id: string): Promise<Set<string>> {
  try {
    const text = await readFile(path.join(dir, `${id}.done`), 'utf8');
    return new Set(text.split('\n').filter(Boolean));
  } catch {
    return new Set();
  }
}

/** Message ids in a spool directory (sorted, hence oldest first) and which of them are on hold. */
export async function spoolIds(dir: string): Promise<{ ids: string[]; held: Set<string> }> {
  const entries = await readdir(dir);
  const ids = entries.filter((n) => ID_PATTERN.test(n)).sort();
  const held = new Set(entries.filter((n) => n.endsWith('.hold')).map((n) => n.slice(0, 20)));
  return { ids, held };
}
