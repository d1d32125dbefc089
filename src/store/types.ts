/**
 * Store ports: small interfaces by purpose. Core depends on these, never on SQLite or Redis.
 * Adapters: store/embedded (SQLite under data_dir); store/redis comes with the Redis issue.
 */

import type { SluiceEvent } from '../core/events.js';
import type { Grant } from '../core/grants.js';

export interface ApiKeyRecord {
  id: string;
  label: string;
  grants: Grant[];
  valid_ips: string[];
  /** SHA-256 of the secret, hex. The secret itself is never stored. */
  hash: string;
  /** First four characters of the secret, so a person can tell keys apart. */
  prefix: string;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
}

export interface KeyPatch {
  label?: string;
  grants?: Grant[];
  valid_ips?: string[];
}

export interface KeyStore {
  insert(record: ApiKeyRecord): Promise<void>;
  findByHash(hash: string): Promise<ApiKeyRecord | null>;
  findById(id: string): Promise<ApiKeyRecord | null>;
  list(): Promise<ApiKeyRecord[]>;
  update(id: string, patch: KeyPatch, now: string): Promise<ApiKeyRecord | null>;
  delete(id: string): Promise<boolean>;
  touch(id: string, when: string): Promise<void>;
}

export interface EventFilter {
  types?: string[];
  recipient?: string;
  messageId?: string;
  /** ISO timestamp; events at or after it. */
  since?: string;
  limit?: number;
}

export interface EventStore {
  /** Durable once it returns (as durable as the adapter's engine). */
  append(event: SluiceEvent): void;
  /** Newest first. */
  search(filter: EventFilter): Promise<SluiceEvent[]>;
}

export interface Stores {
  keys: KeyStore;
  events: EventStore;
  close(): Promise<void>;
}
