/**
 * A short-lived cache of API key records by a lookup key (the id for the policy service, the
 * secret's hash for SMTP AUTH): a busy key is read from a shared store at most once per `ttlMs`
 * per process instead of on every request. The bound is the contract: a key revoked, deleted or
 * changed on another node stops (or starts) applying here at most `ttlMs` after the change. Only
 * keys that exist are cached, so a key created elsewhere works at once; lookups of one id that
 * overlap share one store read. A failing read is never cached. Bounded: past `maxEntries` the
 * oldest entry goes. `ttlMs` 0 turns caching off; clear() forgets everything (a local change).
 */
import type { ApiKeyRecord } from './types.js';

type Lookup = (id: string) => Promise<ApiKeyRecord | null>;

export class ExpiringKeyCache {
  private readonly entries = new Map<string, { record: ApiKeyRecord; until: number }>();
  private readonly inFlight = new Map<string, Promise<ApiKeyRecord | null>>();
  /** Bumped by clear(): a read that started before it does not fill the cache. */
  private generation = 0;

  constructor(
    private readonly lookup: Lookup,
    private readonly ttlMs: number,
    private readonly clock: () => number = Date.now,
    private readonly maxEntries = 10_000,
  ) {}

  get(id: string): Promise<ApiKeyRecord | null> {
    if (this.ttlMs <= 0) return this.lookup(id);
    const cached = this.entries.get(id);
    if (cached && cached.until > this.clock()) return Promise.resolve(cached.record);
    const pending = this.inFlight.get(id);
    if (pending) return pending;
    const read = this.read(id);
    this.inFlight.set(id, read);
    return read;
  }

  /** Forgets every entry; what reads in flight return is not kept either. */
  clear(): void {
    this.generation++;
    this.entries.clear();
    this.inFlight.clear();
  }

  private async read(id: string): Promise<ApiKeyRecord | null> {
    // The entry's life starts before the read: a change made during the read is seen within ttlMs.
    const started = this.clock();
    const generation = this.generation;
    try {
      const record = await this.lookup(id);
      if (generation === this.generation) {
        this.entries.delete(id);
        if (record) {
          this.entries.set(id, { record, until: started + this.ttlMs });
          if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
        }
      }
      return record;
    } finally {
      if (generation === this.generation) this.inFlight.delete(id);
    }
  }
}
