/**
 * A disk outbox between a synchronous `append` and an asynchronous remote store: every event is
 * written (writeSync) to the current segment file under `dir` before append returns, so it
 * survives a crash and a Redis outage alike; a flush seals the segment and hands its events to
 * `send`, and only then deletes the file. While `send` fails (Redis away) segments pile up on disk,
 * not in memory, and the flush is retried every `retryMs` until it succeeds: recovery needs no
 * restart. Several processes may share one data_dir (serve, policy, milter, auth): each writes
 * segments named with its pid, and a process adopts only the segments of processes that are gone,
 * by an atomic rename, so one leftover segment is sent by exactly one of them, first, in order.
 *
 * A flush follows the first append by `flushDelayMs` rather than the same loop turn: a segment is
 * a file opened, closed, read and unlinked, and under steady load one per turn cost more in system
 * calls than the events themselves. The delay only postpones when other nodes see an event; the
 * appending node finds it at once, and durability is the synchronous write either way.
 *
 * `send` receives a segment id and the chunk index with each chunk, so the receiver can make a
 * re-sent chunk (crash between send and unlink) a no-op: delivery is effectively once.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import type { SluiceEvent } from '../../core/events.js';

export type Send = (segment: string, chunk: number, events: SluiceEvent[]) => Promise<void>;

export interface OutboxOptions {
  retryMs?: number;
  /** Events per `send` call. */
  chunk?: number;
  /** Wait between the first append and the flush that sends it (default 20 ms). */
  flushDelayMs?: number;
  /** Told once when sending starts failing and once when it works again. */
  onState?: (ok: boolean, error?: Error) => void;
}

export class EventOutbox {
  private readonly sealed: string[] = [];
  private current: { file: string; fd: number; count: number } | null = null;
  private seq = 0;
  /** Start time then pid: segment names sort in creation order within a process. */
  private readonly run = `${Date.now().toString(36)}-${process.pid}`;
  private flushing: Promise<void> | null = null;
  /** Segments ever sealed and ever sent: a flush waits for what was sealed when it was called. */
  private sealedTotal = 0;
  private sentTotal = 0;
  private scheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failing = false;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly send: Send,
    private readonly options: OutboxOptions = {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.adoptOrphans();
    if (this.sealed.length > 0) this.schedule();
  }

  /** Durable on return (written to the segment file); sent to the remote store soon after. */
  append(event: SluiceEvent): void {
    this.appendMany([event]);
  }

  /** Several events in one write. */
  appendMany(events: readonly SluiceEvent[]): void {
    if (this.closed) throw new Error('event outbox is closed');
    if (events.length === 0) return;
    if (!this.current) {
      // Names sort in creation order: run start time, then a zero-padded sequence.
      const name = `seg-${this.run}-${String(this.seq++).padStart(9, '0')}.jsonl`;
      const file = path.join(this.dir, name);
      this.current = { file, fd: openSync(file, 'a', 0o600), count: 0 };
    }
    writeSync(this.current.fd, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
    this.current.count += events.length;
    this.schedule();
  }

  /** Segments not yet sent (the current one included when it holds events). */
  backlog(): number {
    return this.sealed.length + (this.current && this.current.count > 0 ? 1 : 0);
  }

  /**
   * Sends everything appended before the call (not what comes in meanwhile, so a steady stream of
   * appends cannot keep a caller waiting); rejects if the remote store refuses (retried later).
   */
  async flush(): Promise<void> {
    this.seal();
    const wanted = this.sealedTotal;
    while (this.sentTotal < wanted) {
      this.flushing ??= this.drain().finally(() => {
        this.flushing = null;
      });
      await this.flushing;
    }
  }

  /** Stops retrying and closes the current segment; what is unsent stays on disk for the next start. */
  async close(waitMs = 2000): Promise<void> {
    this.seal();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush().catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private seal(): void {
    if (!this.current) return;
    closeSync(this.current.fd);
    if (this.current.count > 0) {
      this.sealed.push(this.current.file);
      this.sealedTotal++;
    } else unlinkSync(this.current.file);
    this.current = null;
  }

  private schedule(): void {
    if (this.scheduled || this.closed || this.retryTimer) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.flush().catch(() => {});
    }, this.options.flushDelayMs ?? 20);
  }

  /** Sends the segments sealed when it starts, oldest first. */
  private async drain(): Promise<void> {
    const size = this.options.chunk ?? 500;
    for (let left = this.sealed.length; left > 0; left--) {
      const file = this.sealed[0]!;
      const events = readSegment(file);
      const segment = segmentId(file);
      try {
        for (let i = 0; i * size < events.length; i++)
          await this.send(segment, i, events.slice(i * size, (i + 1) * size));
      } catch (error) {
        if (!this.failing) this.options.onState?.(false, error as Error);
        this.failing = true;
        this.retryLater();
        throw error;
      }
      unlinkSync(file);
      this.sealed.shift();
      this.sentTotal++;
    }
    if (this.failing) this.options.onState?.(true);
    this.failing = false;
  }

  /** Takes over the segments of processes that no longer run (their own or adopted ones). */
  private adoptOrphans(): void {
    const orphans: Array<{ file: string; original: string }> = [];
    for (const name of readdirSync(this.dir)) {
      const match = /^(?:adopted-(\d+)-)?(seg-[0-9a-z]+-(\d+)-\d+\.jsonl)$/.exec(name);
      if (!match) continue;
      const owner = Number(match[1] ?? match[3]);
      // Our own pid here is an earlier process that had it (pid 1 in a container, say): adopt.
      if (owner !== process.pid && isAlive(owner)) continue;
      orphans.push({ file: name, original: match[2]! });
    }
    orphans.sort((a, b) => a.original.localeCompare(b.original));
    for (const { file, original } of orphans) {
      const mine = path.join(this.dir, `adopted-${process.pid}-${original}`);
      try {
        renameSync(path.join(this.dir, file), mine);
        this.sealed.push(mine);
        this.sealedTotal++;
      } catch {
        // Another process adopted it first.
      }
    }
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush().catch(() => {});
    }, this.options.retryMs ?? 1000);
    this.retryTimer.unref();
  }
}

/** The id the receiver deduplicates on: the segment's original name, whoever sends it. */
function segmentId(file: string): string {
  return path.basename(file, '.jsonl').replace(/^adopted-\d+-/, '');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The events of one segment; a line cut short by a crash is skipped (it was never acknowledged). */
function readSegment(file: string): SluiceEvent[] {
  const out: SluiceEvent[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as SluiceEvent);
    } catch {
      // torn last line
    }
  }
  return out;
}
