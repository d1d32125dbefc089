/** `sluice events tail`: follow the events log (data_dir/events.jsonl) as the server writes it. */
import { existsSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SluiceEvent } from '../core/events.js';
import { EVENTS_LOG } from '../store/embedded/events.js';
import type { Parsed } from './command.js';
import { filterFrom, formatEvent, matches } from './event-format.js';

export async function run(parsed: Parsed): Promise<number> {
  const file = path.join(parsed.config().data_dir, EVENTS_LOG);
  const filter = filterFrom(parsed.values);
  const json = parsed.values.json === true;
  const backlog = parsed.values.lines ? Number(parsed.values.lines) : 10;
  const print = (line: string) => {
    if (!line) return;
    const event = JSON.parse(line) as SluiceEvent;
    if (matches(event, filter)) process.stdout.write(`${formatEvent(event, json)}\n`);
  };
  let offset = 0;
  let partial = '';
  if (existsSync(file)) {
    const { size } = await stat(file);
    // Start near the end: the last `backlog` lines come from at most this much text.
    offset = Math.max(0, size - Math.max(backlog, 1) * 4096);
    const text = await readFrom(file, offset);
    offset += Buffer.byteLength(text);
    const lines = text.split('\n');
    partial = lines.pop() ?? '';
    if (offset - Buffer.byteLength(text) > 0) lines.shift();
    for (const line of backlog > 0 ? lines.slice(-backlog) : []) print(line);
  }
  if (parsed.values['no-follow']) return 0;
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  while (!stop) {
    await new Promise((r) => setTimeout(r, 250));
    if (!existsSync(file)) continue;
    const { size } = await stat(file);
    if (size < offset) offset = 0; // the log was rotated or truncated
    if (size === offset) continue;
    const text = await readFrom(file, offset);
    offset += Buffer.byteLength(text);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) print(line);
  }
  return 0;
}

async function readFrom(file: string, offset: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const buffer = Buffer.alloc(size - offset);
    await handle.read(buffer, 0, buffer.length, offset);
    // Only whole UTF-8 text: stop at the last newline so a multi-byte character is never split.
    const end = buffer.lastIndexOf(10) + 1;
    return buffer.subarray(0, end).toString('utf8');
  } finally {
    await handle.close();
  }
}
