/**
 * The durable spool (data_dir/spool/queue). A message is acknowledged (250) only after its file,
 * envelope and footer included, is fsynced and its directory entry is synced. Delivery progress
 * for multi-recipient messages is kept in a side file `<id>.done` (one finished recipient a line),
 * so a restart does not send again to recipients already delivered or bounced. A message put on
 * hold by the queue tools has an empty side file `<id>.hold`, so the hold outlives a restart.
 */

import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, readdir, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { DirSync } from './dir-sync.js';
import { encodeTrailer, type SpoolEnvelope } from './spool-format.js';
import { SpoolIo } from './spool-io.js';
import { ID_PATTERN, readDone, readEnvelope, spoolQueueDir } from './spool-read.js';

const SIDE_PATTERN = /^([0-9a-f]{20})\.(done|hold)$/;
/** Bodies up to this size are kept in memory for their first delivery attempt (no re-read). */
const KEEP_IN_MEMORY = 256 * 1024;
const WRITE_BUFFER = 64 * 1024;

export interface SpooledMessage {
  id: string;
  envelope: SpoolEnvelope;
  messageLength: number;
  /** Recipients already final (delivered or bounced), from the side file. */
  done: Set<string>;
  /** The body, when small and just received; dropped after the first attempt. */
  body: Buffer | null;
  /** On hold (queue tools): not delivered until released. */
  held?: boolean;
}

export class Spool {
  readonly dir: string;
  private readonly dirSync: DirSync;
  /** Writes and removals of message files (spool-io.ts); reads stay on libuv's threadpool. */
  private readonly io: SpoolIo;
  private readonly freeRoot: string;

  constructor(dataDir: string, options: { writingThreads?: number; onError?: (error: Error) => void } = {}) {
    this.dir = spoolQueueDir(dataDir);
    this.dirSync = new DirSync(this.dir);
    // Recycled files live next to the queue, in a directory of this Spool's own, one per writing
    // thread (spool-recycle.ts): two threads never share a free file.
    this.freeRoot = path.join(dataDir, 'spool', 'free');
    const own = path.join(this.freeRoot, `${process.pid}-${randomBytes(4).toString('hex')}`);
    this.io = new SpoolIo(options.writingThreads, options.onError, own);
  }

  /** Creates the spool; free files an earlier run kept for reuse are let go (they are empty slots). */
  async init(): Promise<void> {
    // Messages are private: data_dir/spool and data_dir/spool/queue are made 0700 whatever the umask.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await rm(this.freeRoot, { recursive: true, force: true });
  }

  /** The file is created with the first bytes written (at the latest by commit()), never reused. */
  async createWriter(id: string): Promise<SpoolWriter> {
    return new SpoolWriter(id, this.fileOf(id), this.io);
  }

  /** Stops the writing threads; call once nothing writes any more. */
  async close(): Promise<void> {
    await this.io.close();
  }

  /** Reads every complete message; removes files that were never acknowledged. */
  async load(onBroken: (file: string, why: string) => void): Promise<SpooledMessage[]> {
    const messages: SpooledMessage[] = [];
    await this.loadEach(onBroken, async (message) => {
      messages.push(message);
    });
    return messages;
  }

  /** As load(), one message at a time (a large spool is never all in memory); returns the count. */
  async loadEach(
    onBroken: (file: string, why: string) => void,
    each: (message: SpooledMessage) => Promise<void>,
  ): Promise<number> {
    const entries = await readdir(this.dir);
    const names = entries.filter((n) => ID_PATTERN.test(n)).sort();
    // A crash between the two unlinks of remove() leaves a side file whose message is gone.
    const ids = new Set(names);
    for (const name of entries) {
      const side = SIDE_PATTERN.exec(name);
      if (side && !ids.has(side[1]!)) await rm(path.join(this.dir, name), { force: true });
    }
    const held = new Set(entries.filter((n) => n.endsWith('.hold')).map((n) => n.slice(0, 20)));
    let count = 0;
    for (const id of names) {
      try {
        const message = await this.read(id);
        if (message) {
          if (held.has(id)) message.held = true;
          count++;
          await each(message);
        } else {
          onBroken(this.fileOf(id), 'incomplete (never acknowledged); removed');
          await this.remove(id);
        }
      } catch (error) {
        onBroken(this.fileOf(id), `unreadable: ${(error as Error).message}; left in place`);
      }
    }
    return count;
  }

  async read(id: string): Promise<SpooledMessage | null> {
    const read = await readEnvelope(this.fileOf(id), id);
    if (!read) return null;
    return { id, ...read, done: await readDone(this.dir, id), body: null };
  }

  /** The message bytes: from memory when kept, else streamed from the file. */
  body(message: SpooledMessage): Buffer | Readable {
    if (message.body) return message.body;
    if (message.messageLength === 0) return Buffer.alloc(0);
    return createReadStream(this.fileOf(message.id), { start: 0, end: message.messageLength - 1 });
  }

  /** Records recipients that reached a final state; a crash after this never re-sends to them. */
  async markDone(id: string, rcpts: string[]): Promise<void> {
    await appendFile(this.doneFileOf(id), rcpts.map((r) => `${r}\n`).join(''));
  }

  /**
   * The message file goes to the writing thread's free pool (spool-recycle.ts); the side files
   * are unlinked. `sideFile` false (the caller knows none was written) saves their failing
   * unlinks (`.done`, and `.hold`, which a message being delivered cannot have).
   */
  async remove(id: string, sideFile = true): Promise<void> {
    const files = sideFile ? [this.doneFileOf(id), this.holdFileOf(id)] : [];
    await this.io.run(this.io.pick(), { kind: 'unlink', files, recycle: this.fileOf(id) });
  }

  /** Persists (or lifts) a hold; durable once it returns. */
  async setHold(id: string, held: boolean): Promise<void> {
    if (held) {
      const handle = await open(this.holdFileOf(id), 'w', 0o600);
      await handle.close();
    } else {
      await unlinkIfPresent(this.holdFileOf(id));
    }
    await this.dirSync.sync();
  }

  async count(): Promise<number> {
    return (await readdir(this.dir)).filter((n) => ID_PATTERN.test(n)).length;
  }

  fileOf(id: string): string {
    return path.join(this.dir, id);
  }

  private doneFileOf(id: string): string {
    return path.join(this.dir, `${id}.done`);
  }

  private holdFileOf(id: string): string {
    return path.join(this.dir, `${id}.hold`);
  }
}

async function unlinkIfPresent(file: string): Promise<void> {
  try {
    await unlink(file);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ENOENT') throw error;
  }
}

/** Streams one message into its spool file; commit() is the durability point. */
export class SpoolWriter {
  private buffered: Buffer[] = [];
  private bufferedLength = 0;
  private written = 0;
  private kept: Buffer[] | null = [];
  /** Whether the file exists yet (it is created by the first write that reaches the thread). */
  private created = false;
  /** No more writes: committed, being committed, or aborted. */
  private finished = false;
  private committed = false;
  /** The create was refused (EEXIST). */
  private refused = false;
  private readonly thread: number;
  private readonly writer: number;

  constructor(
    readonly id: string,
    private readonly file: string,
    private readonly io: SpoolIo,
  ) {
    this.thread = io.pick();
    this.writer = io.newWriter();
  }

  get length(): number {
    return this.written + this.bufferedLength;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.buffered.push(chunk);
    this.bufferedLength += chunk.length;
    if (this.kept) {
      if (this.length <= KEEP_IN_MEMORY) this.kept.push(chunk);
      else this.kept = null;
    }
    if (this.bufferedLength >= WRITE_BUFFER) await this.send(false);
  }

  /** Appends the envelope, fsyncs file and directory. Returns the body if small enough to keep. */
  async commit(envelope: SpoolEnvelope): Promise<{ messageLength: number; body: Buffer | null }> {
    const messageLength = this.length;
    // The envelope names its file: a recycled file can never be read as another message.
    this.buffered.push(encodeTrailer(messageLength, { ...envelope, spool_id: this.id }));
    await this.send(true);
    this.committed = true;
    return { messageLength, body: this.kept ? Buffer.concat(this.kept) : null };
  }

  /**
   * Drops a message that will not be acknowledged, also after its commit (the door could not
   * record its injection and answers 4xx: the client sends it again, so the file must go).
   */
  async abort(): Promise<void> {
    this.finished = true;
    this.buffered = [];
    if (!this.created) return;
    if (this.committed) {
      await this.io.run(this.thread, { kind: 'unlink', files: [], recycle: this.file });
      return;
    }
    await this.io.run(this.thread, {
      kind: 'abort',
      writer: this.writer,
      file: this.file,
      created: !this.refused,
    });
  }

  private async send(commit: boolean): Promise<void> {
    if (this.finished) throw new Error(`spool writer ${this.id} is finished`);
    const data = this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered);
    this.buffered = [];
    this.bufferedLength = 0;
    const create = !this.created;
    this.created = true;
    if (commit) this.finished = true;
    this.written += data.length;
    try {
      await this.io.run(this.thread, {
        kind: 'write',
        writer: this.writer,
        file: this.file,
        data,
        create,
        commit,
      });
    } catch (error) {
      // The id is taken: that file is someone else's, never to be removed by this writer.
      if (create && (error as NodeJS.ErrnoException).code === 'EEXIST') this.refused = true;
      throw error;
    }
  }
}
