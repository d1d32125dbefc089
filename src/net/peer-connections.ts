/**
 * Connection caps for the doors an MTA talks to (`sluice auth`, `sluice milter`): at most
 * `perPeer` open connections from one address, counted here, next to net.Server's overall
 * maxConnections. One peer filling the listener (a broken or hostile client holding idle
 * connections) then leaves room for the others, Postfix's smtpd_client_connection_count_limit
 * idea. These protocols have no greeting to refuse in, so a connection over a cap is closed at
 * once, with a log line naming the cap; the MTA then applies its own fallback (a milter's
 * default action, a temporary AUTH failure). Unix socket peers have no address and are not
 * counted per peer (file permissions decide who connects there).
 */
import type net from 'node:net';
import { unmapIPv4 } from '../core/networks.js';
import type { Logger } from '../log.js';

export class PeerConnections {
  private readonly open = new Map<string, number>();

  constructor(private readonly perPeer: number) {}

  /**
   * Counts the socket in and arranges for it to be counted out when it closes; false (and the
   * socket destroyed, the refusal logged) when its address already holds `perPeer` connections.
   */
  admit(socket: net.Socket, log: Logger): boolean {
    if (socket.remoteAddress === undefined) return true;
    const peer = unmapIPv4(socket.remoteAddress);
    const count = this.open.get(peer) ?? 0;
    if (count >= this.perPeer) {
      log.warn(
        { peer, connections: count, limit: this.perPeer },
        'too many connections from one peer: refused',
      );
      socket.destroy();
      return false;
    }
    this.open.set(peer, count + 1);
    socket.once('close', () => {
      const left = (this.open.get(peer) ?? 1) - 1;
      if (left <= 0) this.open.delete(peer);
      else this.open.set(peer, left);
    });
    return true;
  }
}

/** Logs connections net.Server turned away at its maxConnections (it closes them silently). */
export function logDropped(server: net.Server, log: Logger, limit: number): void {
  server.on('drop', (data?: net.DropArgument) =>
    log.warn({ peer: data?.remoteAddress ?? 'unix', limit }, 'max_connections reached: connection refused'),
  );
}
