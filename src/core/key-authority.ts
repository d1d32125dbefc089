/**
 * What a key holding `api_keys/manage` may do to keys, so that the grant cannot be turned into
 * every other grant or into an unbound key. A key acting on keys may only create, change or
 * delete keys that lie within its own authority: every grant they hold is one it holds, and when
 * it is bound by valid_ips, theirs lie inside its own (never empty, which would mean unbound).
 * An update must find the key within that authority and leave it there, so a narrow manager can
 * neither widen a key (adding grants, removing or widening valid_ips) nor touch a key wider than
 * itself. The operator (`sluice keys`, no acting key) is not limited. Reading keys is not limited.
 */
import type { ApiKeyRecord, KeyDefaults } from '../store/types.js';
import { rangesCover } from './address-ranges.js';
import type { KeyService, NewKey } from './keys.js';

/** The part of a key that says what it may do and from where. */
export interface KeyScope {
  grants: readonly string[];
  /** Empty: usable from any address (unbound). */
  valid_ips: readonly string[];
}

export type KeyPatchInput = {
  label?: string;
  grants?: string[];
  valid_ips?: string[];
  defaults?: KeyDefaults;
};

/** A change the acting key may not make; `field` is the request field at fault. */
export class KeyAuthorityError extends Error {
  constructor(
    readonly field: 'grants' | 'valid_ips',
    message: string,
  ) {
    super(message);
  }
}

/** Why `scope` lies outside `actor`'s authority, or null when it lies within. */
export function outsideAuthority(
  actor: KeyScope,
  scope: KeyScope,
): { field: 'grants' | 'valid_ips'; reason: string } | null {
  const missing = [...new Set(scope.grants)].filter((grant) => !actor.grants.includes(grant));
  if (missing.length > 0)
    return { field: 'grants', reason: `${missing.join(', ')} not held by the key making the request` };
  if (actor.valid_ips.length === 0) return null;
  const bound = actor.valid_ips.join(', ');
  if (scope.valid_ips.length === 0)
    return {
      field: 'valid_ips',
      reason: `the key making the request is bound to ${bound}; the key must be bound within it (empty means any address)`,
    };
  if (!rangesCover(actor.valid_ips, scope.valid_ips))
    return {
      field: 'valid_ips',
      reason: `must lie within ${bound}, the valid_ips of the key making the request`,
    };
  return null;
}

/** Key management on behalf of one key: the KeyService operations, each within its authority. */
export class DelegatedKeys {
  constructor(
    private readonly keys: KeyService,
    private readonly actor: KeyScope,
  ) {}

  async create(input: NewKey) {
    this.require({ grants: input.grants, valid_ips: input.valid_ips ?? [] }, '');
    return this.keys.create(input);
  }

  /** null when there is no such key. */
  async update(id: string, patch: KeyPatchInput): Promise<ApiKeyRecord | null> {
    const current = await this.keys.get(id);
    if (!current) return null;
    this.require(current, `key ${id} is outside this key's authority: `);
    this.require(
      { grants: patch.grants ?? current.grants, valid_ips: patch.valid_ips ?? current.valid_ips },
      '',
    );
    return this.keys.update(id, patch);
  }

  /** false when there is no such key. */
  async delete(id: string): Promise<boolean> {
    const current = await this.keys.get(id);
    if (!current) return false;
    this.require(current, `key ${id} is outside this key's authority: `);
    return this.keys.delete(id);
  }

  private require(scope: KeyScope, prefix: string): void {
    const outside = outsideAuthority(this.actor, scope);
    if (outside) throw new KeyAuthorityError(outside.field, `${prefix}${outside.reason}`);
  }
}
