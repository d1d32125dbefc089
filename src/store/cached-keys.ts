/**
 * A KeyStore that remembers the keys it has read, for `store.smtp_unavailable: cached_keys`: while
 * the underlying store answers, every lookup goes to it (so a change or a deletion on another node
 * takes effect at once) and the answer refreshes the cache; only when it fails is the last answer
 * this node saw used instead. A key never seen by this node, or deleted before the outage, does not
 * authenticate. `touch` is best effort while the store is away. Bounded: least recently used
 * entries go first.
 */
import type { ApiKeyRecord, KeyPatch, KeyStore } from './types.js';

export class CachingKeyStore implements KeyStore {
  private readonly byHash = new Map<string, ApiKeyRecord>();
  private readonly byId = new Map<string, ApiKeyRecord>();

  constructor(
    private readonly store: KeyStore,
    private readonly maxEntries = 100_000,
  ) {}

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    let found: ApiKeyRecord | null;
    try {
      found = await this.store.findByHash(hash);
    } catch (error) {
      const cached = this.byHash.get(hash);
      if (cached) return cached;
      throw error;
    }
    this.remember(hash, found);
    return found;
  }

  async findById(id: string): Promise<ApiKeyRecord | null> {
    try {
      const found = await this.store.findById(id);
      if (found) this.remember(found.hash, found);
      else this.forgetId(id);
      return found;
    } catch (error) {
      const cached = this.byId.get(id);
      if (cached) return cached;
      throw error;
    }
  }

  async touch(id: string, when: string): Promise<void> {
    try {
      await this.store.touch(id, when);
    } catch {
      // last_used_at is diagnostics; it waits for the next AUTH after the store is back.
    }
  }

  insert(record: ApiKeyRecord): Promise<void> {
    return this.store.insert(record);
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.store.list();
  }

  update(id: string, patch: KeyPatch, now: string): Promise<ApiKeyRecord | null> {
    this.forgetId(id);
    return this.store.update(id, patch, now);
  }

  delete(id: string): Promise<boolean> {
    this.forgetId(id);
    return this.store.delete(id);
  }

  private remember(hash: string, record: ApiKeyRecord | null): void {
    const old = this.byHash.get(hash);
    if (old) {
      this.byHash.delete(hash);
      this.byId.delete(old.id);
    }
    if (!record) return;
    this.byHash.set(hash, record);
    this.byId.set(record.id, record);
    if (this.byHash.size > this.maxEntries) {
      const [oldestHash, oldest] = this.byHash.entries().next().value!;
      this.byHash.delete(oldestHash);
      this.byId.delete(oldest.id);
    }
  }

  private forgetId(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    this.byHash.delete(old.hash);
  }
}
