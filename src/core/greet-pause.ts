/**
 * Who waits for the SMTP greeting (smtp.greet_pause): postscreen's greet wait as a rule. A client
 * the pause applies to is greeted only after `pauseMs`; one that talks before that does not wait
 * for the server as SMTP asks (RFC 5321 section 3.1: the session starts with the server's
 * greeting), which is what spam bots do, and is refused. By default nobody waits. The pause applies to the clients in
 * smtp.greet_pause_networks, or, when that is null, to every client outside relay.networks, so
 * trusted apps that open a connection per message are never slowed down.
 */
import { NetworkSet } from './networks.js';
import type { RelayPolicy } from './relay-policy.js';
import { Rejection } from './reply.js';

/** The reply to a client that talked before the greeting (postscreen: "5.5.1 Protocol error"). */
export const EARLY_TALKER = new Rejection(554, '5.5.1', 'Protocol error: talked before the greeting');

export class GreetPause {
  private readonly networks: NetworkSet | null;

  constructor(
    private readonly pauseMs: number,
    networks: readonly string[] | null,
    private readonly relay: Pick<RelayPolicy, 'isTrusted'>,
  ) {
    this.networks = networks ? new NetworkSet(networks) : null;
  }

  /** Milliseconds to wait before greeting a client at this address; 0 greets at once. */
  pauseFor(clientIp: string): number {
    if (this.pauseMs <= 0) return 0;
    const applies = this.networks ? this.networks.has(clientIp) : !this.relay.isTrusted(clientIp);
    return applies ? this.pauseMs : 0;
  }
}
