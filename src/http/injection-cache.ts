/**
 * The injection event a tracking hit needs (campaign, metadata, tags, subject… are copied from it
 * into the open or click), remembered per message and recipient so a newsletter's clicks do not
 * each run a query. A bounded LRU: the least recently used entry goes when `capacity` is reached.
 *
 * Contract: lookup() answers exactly what a fresh EventStore.search for the newest injection of
 * that message and recipient answers, because an injection is written once per message and
 * recipient and never changes. Only hits are kept: a message not (yet) found is asked again next
 * time, so an injection recorded later is seen. Cached events are frozen (deeply): every
 * engagement event built from one shares its metadata objects, and none may change them.
 */
import type { SluiceEvent } from '../core/events.js';
import type { EventStore } from '../store/types.js';

export class InjectionCache {
  /** Map keeps insertion order: re-inserting on a hit makes the first key the least recent. */
  private readonly entries = new Map<string, SluiceEvent>();

  constructor(
    private readonly events: EventStore,
    private readonly capacity = 10_000,
  ) {}

  /** The cached injection, or undefined when it has to be looked up (lookup()). */
  peek(messageId: string, rcpt: string): SluiceEvent | undefined {
    const key = keyOf(messageId, rcpt);
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  async lookup(messageId: string, rcpt: string): Promise<SluiceEvent | null> {
    const cached = this.peek(messageId, rcpt);
    if (cached) return cached;
    const [injection] = await this.events.search({
      types: ['injection'],
      messageId,
      recipient: rcpt,
      limit: 1,
    });
    if (!injection) return null;
    deepFreeze(injection);
    const key = keyOf(messageId, rcpt);
    this.entries.delete(key);
    this.entries.set(key, injection);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return injection;
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The store matches recipients case-insensitively (it keeps them lower-cased). */
function keyOf(messageId: string, rcpt: string): string {
  return `${messageId}\n${rcpt.toLowerCase()}`;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const inner of Object.values(value)) deepFreeze(inner);
}
