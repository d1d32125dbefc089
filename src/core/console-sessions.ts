/**
 * Operator console sessions: who may sign in, what a session may do, and when it ends.
 *
 * A sign-in presents an API key; it succeeds when the key authenticates from the client's address
 * and holds `console/view` (read) or `console/manage` (read and act). The session is an opaque
 * random id (the cookie) plus a CSRF token the page sends back with every action. It ends after
 * `lifetimeMs` from sign-in however busy it is (a short, absolute lifetime), on sign-out, and as
 * soon as its key is revoked, loses its console grant, or no longer allows the client's address:
 * every request re-reads the key, so what a session may do is always the key's current grant.
 *
 * Sessions live in this process's memory: a restart signs everyone out (the key is asked for
 * again), and with several nodes each node has its own sessions, as it has its own queue.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord } from '../store/types.js';
import type { Grant } from './grants.js';
import type { AuthFailure, KeyService } from './keys.js';
import { NetworkSet, unmapIPv4 } from './networks.js';

export type ConsoleAccess = 'view' | 'manage';

export interface ConsoleSession {
  /** The cookie value. */
  readonly id: string;
  /** Sent back by the page in a header with every action (synchronizer token). */
  readonly csrf: string;
  readonly keyId: string;
  label: string;
  access: ConsoleAccess;
  readonly created: number;
  readonly expires: number;
}

export type SignIn =
  | { ok: true; session: ConsoleSession }
  | { ok: false; reason: AuthFailure | 'no-console-grant' };

/** What a key's grants allow in the console: manage implies view; null: no console grant. */
export function consoleAccess(grants: readonly Grant[]): ConsoleAccess | null {
  if (grants.includes('console/manage')) return 'manage';
  if (grants.includes('console/view')) return 'view';
  return null;
}

export class ConsoleSessions {
  /** By SHA-256 of the id, so the map's keys are not the cookies themselves. Oldest first. */
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(
    private readonly keys: KeyService,
    private readonly lifetimeMs: number,
    private readonly maxSessions: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  async signIn(secret: string, clientIp: string): Promise<SignIn> {
    const result = await this.keys.authenticate(secret, unmapIPv4(clientIp), null);
    if (!result.ok) return result;
    const access = consoleAccess(result.key.grants);
    if (!access) return { ok: false, reason: 'no-console-grant' };
    const now = this.now();
    this.sweep(now);
    while (this.sessions.size >= this.maxSessions) {
      const oldest = this.sessions.keys().next().value;
      if (oldest === undefined) break;
      this.sessions.delete(oldest);
    }
    const session: ConsoleSession = {
      id: randomBytes(32).toString('base64url'),
      csrf: randomBytes(32).toString('base64url'),
      keyId: result.key.id,
      label: result.key.label,
      access,
      created: now,
      expires: now + this.lifetimeMs,
    };
    this.sessions.set(digest(session.id), session);
    return { ok: true, session };
  }

  /**
   * The live session for a cookie value, its access refreshed from the key as it is now; null
   * (and the session ended) when it expired or its key no longer admits this client.
   */
  async resolve(id: string | undefined, clientIp: string): Promise<ConsoleSession | null> {
    if (!id) return null;
    const handle = digest(id);
    const session = this.sessions.get(handle);
    if (!session) return null;
    if (this.now() >= session.expires) {
      this.sessions.delete(handle);
      return null;
    }
    const key = await this.keys.get(session.keyId);
    const access = key ? consoleAccess(key.grants) : null;
    if (!key || !access || !allowsAddress(key, clientIp)) {
      this.sessions.delete(handle);
      return null;
    }
    session.access = access;
    session.label = key.label;
    return session;
  }

  end(id: string): void {
    this.sessions.delete(digest(id));
  }

  /** Constant-time comparison of the token the page sent with the session's. */
  static csrfMatches(session: ConsoleSession, presented: string | undefined): boolean {
    if (typeof presented !== 'string') return false;
    const expected = Buffer.from(session.csrf);
    const given = Buffer.from(presented);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sweep(now: number): void {
    for (const [handle, session] of this.sessions) if (now >= session.expires) this.sessions.delete(handle);
  }
}

function allowsAddress(key: ApiKeyRecord, clientIp: string): boolean {
  return key.valid_ips.length === 0 || new NetworkSet(key.valid_ips).has(unmapIPv4(clientIp));
}

function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
