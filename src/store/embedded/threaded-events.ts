/**
 * An EventStore for engagement events (opens, clicks) on the embedded backend whose writes are
 * committed by a worker thread (events-writer-thread.ts) with its own SQLite connection: the HTTP
 * event loop only serialises each event and posts the batch, so a commit or a WAL checkpoint
 * never stalls a redirect. Reads go to the main-thread store, after the writes they could see.
 *
 * Contract:
 *  - appendMany() returns once the batch is posted; settled() resolves when everything posted
 *    so far is committed (or reported lost). search()/page()/prune() wait for the posted events
 *    of the types they ask for, so a query sees every append made before it.
 *  - Durability bound: a crash of the process loses the events posted and not yet committed —
 *    at most `maxInFlight` (default 10,000; in practice one batch, milliseconds of clicks). Past
 *    that bound appends are written synchronously on the main thread instead (`fallback`), so the
 *    loss bound holds even when the worker falls behind.
 *  - The worker adds the Metrics API's rollups in each batch's transaction, as the fallback (an
 *    EmbeddedEventStore) does with its own options.
 *  - A failed batch, or the worker dying, reports its events to onError(error, lost); after the
 *    worker is gone, appends go to `fallback` synchronously.
 *  - commit() is appendMany() for a writer that must know: its promise resolves once the batch is
 *    committed and rejects when it is not (the error goes to the caller, not to onError). The
 *    queue's group commit uses it, so injection and delivery events leave the event loop too.
 */
import { Worker } from 'node:worker_threads';
import type { SluiceEvent } from '../../core/events.js';
import type { EventFilter, EventPageFilter, EventStore } from '../types.js';
import { EmbeddedEventStore } from './events.js';
import type { WriterData, WriterReply, WriterRequest } from './events-writer-thread.js';

interface Posted {
  count: number;
  types: Map<string, number>;
}

export class ThreadedEventStore implements EventStore {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly posted = new Map<number, Posted>();
  /** The batches posted by commit(), whose callers wait for the outcome. */
  private readonly committers = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private inFlight = 0;
  private waiters: (() => void)[] = [];
  private alive = true;
  private closing: Promise<void> | null = null;
  private readonly started: Promise<void>;

  /** fallback: the main-thread store on the same data_dir (reads, and writes past the bound). */
  constructor(
    dataDir: string,
    private readonly fallback: EventStore,
    private readonly onError: (error: unknown, lost: number) => void,
    private readonly maxInFlight = 10_000,
  ) {
    // The worker keeps rollups as the main-thread store on this data_dir does (metrics.rollups).
    const metrics = fallback instanceof EmbeddedEventStore ? fallback.options : {};
    const workerData: WriterData = { dataDir, rollups: metrics.rollups !== false };
    if (metrics.retention) workerData.retention = metrics.retention;
    this.worker = new Worker(new URL('./events-writer-thread.js', import.meta.url), { workerData });
    this.started = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`event writer thread exited with code ${code}`)));
      this.worker.once('message', () => resolve());
    });
    // Awaited by ready(); a failure is also reported through died(). Once started, the worker
    // keeps the process alive only while it has batches to write (see wake()).
    this.started.then(
      () => {
        if (this.posted.size === 0 && this.closing === null) this.worker.unref();
      },
      () => {},
    );
    this.worker.on('message', (reply: WriterReply) => this.done(reply));
    this.worker.on('error', (error) => this.died(error));
    this.worker.on('exit', (code) => {
      if (this.closing === null) this.died(new Error(`event writer thread exited with code ${code}`));
    });
  }

  /** Resolves once the worker has its database open; rejects if it could not start. */
  ready(): Promise<void> {
    return this.started;
  }

  append(event: SluiceEvent): void {
    this.appendMany([event]);
  }

  appendMany(events: readonly SluiceEvent[]): void {
    if (events.length === 0) return;
    if (!this.alive || this.closing !== null || this.inFlight + events.length > this.maxInFlight) {
      this.fallback.appendMany(events);
      return;
    }
    this.post(events);
  }

  async commit(events: readonly SluiceEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (!this.alive || this.closing !== null || this.inFlight + events.length > this.maxInFlight) {
      // Written here, after what is posted: batches stay in the order they were committed.
      await this.settled();
      this.fallback.appendMany(events);
      return;
    }
    const id = this.post(events);
    return new Promise((resolve, reject) => this.committers.set(id, { resolve, reject }));
  }

  private post(events: readonly SluiceEvent[]): number {
    const types = new Map<string, number>();
    for (const e of events) types.set(e.type, (types.get(e.type) ?? 0) + 1);
    const id = this.nextId++;
    if (this.posted.size === 0) this.worker.ref();
    this.posted.set(id, { count: events.length, types });
    this.inFlight += events.length;
    // One JSON string per batch: cloning one string costs the loop far less than cloning objects.
    this.worker.postMessage({ id, json: JSON.stringify(events) } satisfies WriterRequest);
    return id;
  }

  /** Resolves when every event posted so far is committed or reported lost. */
  settled(): Promise<void> {
    if (this.posted.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async search(filter: EventFilter): Promise<SluiceEvent[]> {
    // An injection lookup (the click path's only query) never waits for queued clicks.
    if (this.mayHold(filter.types)) await this.settled();
    return this.fallback.search(filter);
  }

  async page(filter: EventPageFilter) {
    if (this.mayHold(filter.types)) await this.settled();
    return this.fallback.page(filter);
  }

  async prune(before: string): Promise<number> {
    await this.settled();
    return (await this.fallback.prune?.(before)) ?? 0;
  }

  /** Waits for what is posted, then stops the worker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.settled();
      if (!this.alive) return;
      const exited = new Promise((resolve) => this.worker.once('exit', resolve));
      this.worker.ref();
      this.worker.postMessage('close');
      await exited;
    })();
    return this.closing;
  }

  private mayHold(types: readonly string[] | undefined): boolean {
    if (this.posted.size === 0) return false;
    if (!types || types.length === 0) return true;
    for (const p of this.posted.values()) for (const t of types) if (p.types.has(t)) return true;
    return false;
  }

  private done(reply: WriterReply): void {
    const p = this.posted.get(reply.id);
    if (!p) return;
    this.posted.delete(reply.id);
    this.inFlight -= p.count;
    const committer = this.committers.get(reply.id);
    this.committers.delete(reply.id);
    if (committer) {
      if (reply.error !== undefined) committer.reject(new Error(reply.error));
      else committer.resolve();
    } else if (reply.error !== undefined) this.onError(new Error(reply.error), p.count);
    this.wake();
  }

  private died(error: unknown): void {
    if (!this.alive) return;
    this.alive = false;
    // Batches whose committers are told here are not reported lost a second time.
    let told = 0;
    for (const id of this.committers.keys()) told += this.posted.get(id)?.count ?? 0;
    const failure = error instanceof Error ? error : new Error(String(error));
    for (const c of this.committers.values()) c.reject(failure);
    this.committers.clear();
    const lost = this.inFlight - told;
    if (lost > 0) this.onError(error, lost);
    this.posted.clear();
    this.inFlight = 0;
    this.wake();
  }

  private wake(): void {
    if (this.posted.size > 0) return;
    if (this.closing === null) this.worker.unref();
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}
