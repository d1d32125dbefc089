/**
 * API keys: creation, authentication, grants and valid_ips. A key's secret is 40 lowercase hex
 * characters (160 random bits), shown once at creation; only its SHA-256 is stored. A slow hash
 * would add nothing for secrets of this entropy, and lookup by hash keeps comparison off the secret.
 * With `cacheMs` (the SMTP doors, which authenticate on every connection) a key found by its hash
 * is reused for that long, so an AUTH costs a hash and a map lookup, not a store read; the bound
 * is the contract: a key revoked or changed anywhere stops (or starts) applying within cacheMs, and
 * at once when changed through this KeyService. Unknown hashes are never cached: a new key works
 * at once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ExpiringKeyCache } from '../store/expiring-keys.js';
import type { ApiKeyRecord, KeyDefaults, KeyPatch, KeyStore } from '../store/types.js';
import { GRANTS, type Grant, isGrant } from './grants.js';
import { NetworkSet } from './networks.js';

export const KEY_PATTERN = /^[0-9a-f]{40}$/;

export type AuthFailure = 'malformed' | 'unknown' | 'grant' | 'ip';
/**
 * A refused key that exists ('grant', 'ip') names its id and grants, for log lines and for errors
 * that say which grant is missing; an unknown or malformed secret names nothing.
 */
export type AuthResult =
  | { ok: true; key: ApiKeyRecord }
  | { ok: false; reason: AuthFailure; keyId?: string; grants?: readonly Grant[] };

export interface NewKey {
  label: string;
  grants: string[];
  valid_ips?: string[];
  defaults?: KeyDefaults;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class KeyService {
  /** last_used_at is written at most this often per key, so a busy key does not write on every AUTH. */
  private static readonly TOUCH_INTERVAL_MS = 60_000;
  private readonly touched = new Map<string, number>();
  private readonly byHash: ExpiringKeyCache;

  constructor(
    private readonly store: KeyStore,
    options: { cacheMs?: number } = {},
  ) {
    this.byHash = new ExpiringKeyCache((hash) => store.findByHash(hash), options.cacheMs ?? 0);
  }

  async create(input: NewKey, now = new Date()): Promise<{ record: ApiKeyRecord; secret: string }> {
    const grants = validateGrants(input.grants);
    const validIps = input.valid_ips ?? [];
    new NetworkSet(validIps);
    const secret = randomBytes(20).toString('hex');
    const record: ApiKeyRecord = {
      id: randomBytes(8).toString('hex'),
      label: input.label,
      grants,
      valid_ips: validIps,
      hash: hashSecret(secret),
      prefix: secret.slice(0, 4),
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
      last_used_at: null,
      defaults: validateDefaults(input.defaults ?? {}),
    };
    await this.store.insert(record);
    return { record, secret };
  }

  /** `grant` null: any valid key from an allowed address (the API's GET /authenticate/grants). */
  async authenticate(
    secret: string,
    clientIp: string,
    grant: Grant | null,
    now = new Date(),
  ): Promise<AuthResult> {
    if (!KEY_PATTERN.test(secret)) return { ok: false, reason: 'malformed' };
    const hash = hashSecret(secret);
    const key = await this.byHash.get(hash);
    // The lookup is by hash; the comparison that decides is constant-time all the same.
    if (!key || !timingSafeEqual(Buffer.from(key.hash, 'hex'), Buffer.from(hash, 'hex'))) {
      return { ok: false, reason: 'unknown' };
    }
    if (grant !== null && !key.grants.includes(grant))
      return { ok: false, reason: 'grant', keyId: key.id, grants: key.grants };
    if (key.valid_ips.length > 0 && !new NetworkSet(key.valid_ips).has(clientIp))
      return { ok: false, reason: 'ip', keyId: key.id, grants: key.grants };
    const last = this.touched.get(key.id) ?? 0;
    if (now.getTime() - last >= KeyService.TOUCH_INTERVAL_MS) {
      this.touched.set(key.id, now.getTime());
      await this.store.touch(key.id, now.toISOString());
    }
    return { ok: true, key };
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.store.list();
  }

  get(id: string): Promise<ApiKeyRecord | null> {
    return this.store.findById(id);
  }

  async update(
    id: string,
    patch: { label?: string; grants?: string[]; valid_ips?: string[]; defaults?: KeyDefaults },
    now = new Date(),
  ) {
    const clean: KeyPatch = {};
    if (patch.label !== undefined) clean.label = patch.label;
    if (patch.grants !== undefined) clean.grants = validateGrants(patch.grants);
    if (patch.valid_ips !== undefined) {
      new NetworkSet(patch.valid_ips);
      clean.valid_ips = patch.valid_ips;
    }
    if (patch.defaults !== undefined) clean.defaults = validateDefaults(patch.defaults);
    try {
      return await this.store.update(id, clean, now.toISOString());
    } finally {
      this.byHash.clear();
    }
  }

  async delete(id: string): Promise<boolean> {
    try {
      return await this.store.delete(id);
    } finally {
      this.byHash.clear();
    }
  }
}

function validateGrants(grants: string[]): Grant[] {
  const bad = grants.filter((g) => !isGrant(g));
  if (bad.length > 0)
    throw new Error(
      `unknown grant${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; valid grants: ${GRANTS.join(', ')}`,
    );
  return [...new Set(grants)] as Grant[];
}

const IP_POOL = /^[A-Za-z0-9_.-]{1,64}$/;

/** Keeps only known fields of the right type; a wrong one is an error naming it. */
function validateDefaults(input: KeyDefaults): KeyDefaults {
  const out: KeyDefaults = {};
  for (const flag of ['open_tracking', 'click_tracking', 'transactional'] as const) {
    const value = input[flag];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') throw new Error(`defaults.${flag} must be true or false`);
    out[flag] = value;
  }
  if (input.ip_pool !== undefined) {
    if (typeof input.ip_pool !== 'string' || !IP_POOL.test(input.ip_pool))
      throw new Error('defaults.ip_pool must be 1-64 letters, digits, "_", "-" or "."');
    out.ip_pool = input.ip_pool;
  }
  return out;
}
