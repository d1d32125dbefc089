/**
 * Bytes that must be kept until the end of a message (the rewritten body a milter sends back at
 * EOM with replace-body): held in memory up to `memoryLimit`, then written to a private file
 * under `dir`, so a large message costs disk, not memory. read() gives the bytes back in order,
 * in pieces of at most `pieceSize`; dispose() removes the file (call it on every path).
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, rm } from 'node:fs/promises';
import path from 'node:path';

export class SpillBuffer {
  private memory: Buffer[] = [];
  private inMemory = 0;
  private file: { path: string; handle: FileHandle } | null = null;
  private written = 0;

  constructor(
    private readonly dir: string,
    private readonly memoryLimit: number,
  ) {}

  /** Bytes held so far. */
  get size(): number {
    return this.inMemory + this.written;
  }

  /** Whether the bytes went to disk. */
  get spilled(): boolean {
    return this.file !== null;
  }

  async write(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      if (chunk.length === 0) continue;
      this.memory.push(chunk);
      this.inMemory += chunk.length;
    }
    if (this.inMemory > this.memoryLimit) await this.flushToFile();
  }

  async *read(pieceSize: number): AsyncGenerator<Buffer> {
    if (this.file) {
      await this.flushToFile();
      const buffer = Buffer.alloc(pieceSize);
      for (let at = 0; at < this.written; ) {
        const { bytesRead } = await this.file.handle.read(buffer, 0, pieceSize, at);
        if (bytesRead === 0) throw new Error('spill file shorter than what was written');
        at += bytesRead;
        yield Buffer.from(buffer.subarray(0, bytesRead));
      }
      return;
    }
    const all = Buffer.concat(this.memory);
    for (let at = 0; at < all.length; at += pieceSize) yield all.subarray(at, at + pieceSize);
  }

  async dispose(): Promise<void> {
    this.memory = [];
    this.inMemory = 0;
    const file = this.file;
    this.file = null;
    if (!file) return;
    await file.handle.close().catch(() => {});
    await rm(file.path, { force: true });
  }

  private async flushToFile(): Promise<void> {
    if (!this.file) {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const file = path.join(this.dir, `milter-body-${randomBytes(8).toString('hex')}`);
      this.file = { path: file, handle: await open(file, 'wx+', 0o600) };
    }
    const pending = Buffer.concat(this.memory);
    this.memory = [];
    this.inMemory = 0;
    if (pending.length === 0) return;
    for (let at = 0; at < pending.length; ) {
      const { bytesWritten } = await this.file.handle.write(pending, at, pending.length - at, this.written);
      at += bytesWritten;
      this.written += bytesWritten;
    }
  }
}
