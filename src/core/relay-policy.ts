/**
 * Whose mail is an injection: core's rule, asked by the SMTP door and the milter. Sluice has no
 * local mailboxes, so every recipient is relayed: allowed only for authenticated keys, or for
 * trusted networks on the smtp listener when relay.require_auth is off. Never an open relay.
 * In front of Postfix (the milter) the same networks tell an app's unauthenticated mail, which
 * Sluice records, from the world's mail passing through, which it leaves alone.
 */
import type { Config } from '../config/schema.js';
import { NetworkSet } from './networks.js';
import { Rejection } from './reply.js';

export type ListenerKind = 'smtp' | 'submission';

export class RelayPolicy {
  private trusted: NetworkSet;

  constructor(private relay: Config['relay']) {
    this.trusted = new NetworkSet(relay.networks);
  }

  /** A reload: the networks and require_auth asked about from now on. */
  update(relay: Config['relay']): void {
    this.trusted = new NetworkSet(relay.networks);
    this.relay = relay;
  }

  /** Whether a listener demands AUTH before MAIL. */
  requiresAuth(kind: ListenerKind): boolean {
    return kind === 'submission' || this.relay.require_auth;
  }

  /** Throws the reply for a recipient this client may not relay to. */
  checkRecipient(kind: ListenerKind, clientIp: string, authenticatedKey: string | null): void {
    if (authenticatedKey) return;
    if (!this.requiresAuth(kind) && this.isTrusted(clientIp)) return;
    throw new Rejection(554, '5.7.1', 'Relay access denied');
  }

  /** Whether unauthenticated mail from this address is an app's injection (relay.networks). */
  isTrusted(clientIp: string): boolean {
    return this.trusted.has(clientIp);
  }
}
