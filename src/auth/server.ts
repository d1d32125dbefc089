/**
 * The auth door's network side: a TCP server speaking the Dovecot authentication protocol, one
 * AuthSession per connection (one per Postfix smtpd process). It frames bytes into lines with
 * the codec, hands typed messages to the session and writes what the session answers. Who may
 * inject is decided by core (checkSmtpLogin → KeyService); failures are slowed by one
 * AuthThrottle shared by every connection, keyed by the SMTP client's address. stop() closes the
 * listener and ends every connection; Postfix reconnects on its next AUTH.
 * Connections are capped overall (max_connections) and per peer address
 * (max_connections_per_peer), and one silent for idle_timeout is closed: a Postfix smtpd keeps its
 * connection for its whole life, using it at each AUTH, and after a close its next AUTH fails once
 * (454 4.7.0 "Connection lost to authentication server") before it reconnects, so the timeout is
 * long; the per-peer cap is what keeps one peer from locking the others (Postfix) out.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { Config } from '../config/index.js';
import type { AuthThrottle } from '../core/auth-throttle.js';
import type { KeyService } from '../core/keys.js';
import { checkSmtpLogin } from '../core/smtp-login.js';
import type { Logger } from '../log.js';
import { logDropped, PeerConnections } from '../net/peer-connections.js';
import { stopServer } from '../net/stop-server.js';
import { AuthSession } from './session.js';
import { decodeLine, LineFramer } from './wire.js';

export interface AuthServerDeps {
  config: Config['auth'];
  keys: KeyService;
  throttle: AuthThrottle;
  log: Logger;
}

export interface AuthServer {
  /** "host:port" actually bound (the port may have been 0). */
  address: string;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 2_000;

export async function startAuthServer(listen: string, deps: AuthServerDeps): Promise<AuthServer> {
  const { config, log } = deps;
  const sockets = new Set<net.Socket>();
  const peers = new PeerConnections(config.max_connections_per_peer);
  let connections = 0;

  const server = net.createServer((socket) => {
    if (!peers.admit(socket, log)) return;
    sockets.add(socket);
    const cuid = String(++connections);
    const connLog = log.child({ conn: cuid, peer: socket.remoteAddress });
    const framer = new LineFramer(config.max_line_length);
    const session = new AuthSession({
      verify: (username, password, ip, authzid) => checkSmtpLogin(deps.keys, username, password, ip, authzid),
      throttle: deps.throttle,
      send: (line) => {
        if (!socket.destroyed) socket.write(line);
      },
      close: () => socket.end(),
      log: connLog,
      options: {
        service: config.service,
        allowInsecure: config.allow_insecure,
        maxPending: config.max_pending,
        pendingTimeoutMs: config.pending_timeout,
      },
      identity: { spid: String(process.pid), cuid, cookie: randomBytes(16).toString('hex') },
    });
    socket.on('data', (chunk: Buffer) => {
      const { lines, error } = framer.push(chunk);
      for (const line of lines) {
        const decoded = decodeLine(line);
        if (!decoded.ok) return session.protocolError(decoded.error);
        session.receive(decoded.message);
      }
      if (error) {
        session.protocolError(error);
        // A peer still streaming an endless line is not read any further.
        socket.pause();
      }
    });
    socket.on('end', () => {
      if (framer.pending > 0) connLog.warn({ bytes: framer.pending }, 'connection ended mid-line');
      socket.end();
    });
    socket.setTimeout(config.idle_timeout, () => {
      connLog.info({ idle_ms: config.idle_timeout }, 'auth connection idle: closing');
      session.end();
      socket.destroy();
    });
    socket.on('error', (error) => connLog.debug({ err: error }, 'auth connection error'));
    socket.on('close', () => {
      session.end();
      sockets.delete(socket);
    });
    session.start();
  });
  server.maxConnections = config.max_connections;
  logDropped(server, log, config.max_connections);
  server.on('error', (error) => log.error({ err: error }, 'auth listener error'));

  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = Number(listen.slice(at + 1));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  const address =
    bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;

  return {
    address,
    stop: () => stopServer(server, sockets, STOP_GRACE_MS),
  };
}
