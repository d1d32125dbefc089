/**
 * Spool writes and removals, carried out by writing threads (spool-io-thread.ts) in batches.
 *
 * Why: every message used to cost five trips through libuv's threadpool (create, write, fsync,
 * close, unlink) plus its share of a directory fsync. Each trip wakes a thread, and on a busy
 * machine the woken thread takes the CPU from the event loop, which then waits: measured on the
 * 2 KB relay benchmark, the main thread spent about 30% of its time inside those calls. Here the
 * operations requested in one turn of the event loop leave in one message per thread and come
 * back in one reply, and a batch's commits share one directory fsync.
 *
 * A writer's operations always go to the same thread, in order. Threads are started on first
 * use, hold the process open only while they have work, and are replaced if one dies (its
 * pending operations fail, and so the messages they belonged to are refused, never lost).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SpoolBatch, SpoolOp, SpoolReply } from './spool-io-thread.js';

type OpWithoutSeq = SpoolOp extends infer T ? (T extends SpoolOp ? Omit<T, 'seq'> : never) : never;

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

class WritingThread {
  private worker: Worker | null = null;
  private batch: SpoolOp[] = [];
  private readonly pending = new Map<number, Pending>();
  private scheduled = false;
  private closed = false;
  private drained: (() => void)[] = [];

  constructor(
    private readonly onError: (error: Error) => void,
    private readonly freeDir: string | null,
  ) {}

  submit(op: SpoolOp): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the spool is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pending.set(op.seq, { resolve, reject });
      this.batch.push(op);
      if (!this.scheduled) {
        this.scheduled = true;
        // Everything asked for in this turn of the event loop goes in one message.
        setImmediate(() => this.flush());
      }
    });
  }

  get idle(): boolean {
    return this.pending.size === 0;
  }

  /** Refuses new work, lets what was asked for finish, then stops the thread. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.scheduled) this.flush();
    if (this.pending.size > 0) await new Promise<void>((resolve) => this.drained.push(resolve));
    const worker = this.worker;
    this.worker = null;
    if (worker) await worker.terminate();
  }

  private wakeDrained(): void {
    if (this.pending.size > 0) return;
    for (const resolve of this.drained.splice(0)) resolve();
  }

  private flush(): void {
    if (!this.scheduled) return;
    this.scheduled = false;
    const ops = this.batch;
    this.batch = [];
    if (ops.length === 0) return;
    const worker = this.started();
    worker.ref();
    worker.postMessage({ ops } satisfies SpoolBatch);
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./spool-io-thread.js', import.meta.url), {
      workerData: { freeDir: this.freeDir },
    });
    worker.on('message', (reply: SpoolReply) => this.settle(reply));
    worker.on('error', (error) => this.died(worker, error));
    worker.on('exit', (code) =>
      this.died(worker, new Error(`spool writing thread exited with code ${code}`)),
    );
    this.worker = worker;
    return worker;
  }

  private settle({ done }: SpoolReply): void {
    for (const { seq, error } of done) {
      const pending = this.pending.get(seq);
      if (!pending) continue;
      this.pending.delete(seq);
      if (error) pending.reject(Object.assign(new Error(error.message), error.code && { code: error.code }));
      else pending.resolve();
    }
    if (this.pending.size === 0) this.worker?.unref();
    this.wakeDrained();
  }

  /** A dead thread's open files are gone with it: everything it still owed fails. */
  private died(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = null;
    if (this.pending.size > 0) this.onError(error);
    const owed = [...this.pending.values()];
    this.pending.clear();
    for (const p of owed) p.reject(error);
    this.wakeDrained();
  }
}

export class SpoolIo {
  private readonly threads: WritingThread[];
  private seq = 0;
  private next = 0;

  /** freeDir: where each thread keeps its recycled files (a subdirectory per thread), or null. */
  constructor(threads = 2, onError: (error: Error) => void = () => {}, freeDir: string | null = null) {
    this.threads = Array.from(
      { length: Math.max(1, threads) },
      (_, i) => new WritingThread(onError, freeDir === null ? null : path.join(freeDir, String(i))),
    );
  }

  private writers = 0;

  /** A number naming one writer on its thread. */
  newWriter(): number {
    return this.writers++;
  }

  /** A thread for one writer: its operations keep their order by all going there. */
  pick(): number {
    const i = this.next;
    this.next = (this.next + 1) % this.threads.length;
    return i;
  }

  run(thread: number, op: OpWithoutSeq): Promise<void> {
    return this.threads[thread]!.submit({ ...op, seq: this.seq++ } as SpoolOp);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}
