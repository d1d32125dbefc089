/**
 * The policy door: a TCP server Postfix's smtpd processes query with check_policy_service. Each
 * connection is one session (Postfix keeps it open across SMTP sessions); requests on it are
 * answered strictly in order. A session turns each request into a core PolicyQuery and core's
 * decision into an `action=` reply; it remembers only the transaction (Postfix `instance`) in
 * progress on the connection, so that when a new instance appears, or the connection closes,
 * before END-OF-MESSAGE, core releases what the old one held.
 * Misbehaving clients never crash it: a malformed request is logged and answered with
 * MALFORMED_ACTION, an oversized one (past max_request_size) or an idle connection is closed;
 * connections past max_connections, or past max_connections_per_peer from one address, are closed
 * at once (net/peer-connections.ts).
 */
import net from 'node:net';
import type { PolicyConfig } from '../config/sections/policy.js';
import type { PolicyService } from '../core/policy.js';
import type { Logger } from '../log.js';
import { logDropped, PeerConnections } from '../net/peer-connections.js';
import { isStoreOutage, outageSummary } from '../store/outage.js';
import { actionFor, MALFORMED_ACTION, queryFrom } from './actions.js';
import { type Decoded, encodeAction, PolicyDecoder } from './wire.js';

export interface PolicyServerOptions {
  /** "host:port" or "[ipv6]:port"; port 0 picks a free one. */
  listen: string;
  config: PolicyConfig;
  policy: PolicyService;
  log: Logger;
}

export interface PolicyServer {
  /** The bound address as "host:port". */
  address: string;
  port: number;
  /** Stops accepting, lets each session finish the request in hand, then closes every connection. */
  stop(graceMs?: number): Promise<void>;
}

let nextSessionId = 0;

export async function startPolicyServer(options: PolicyServerOptions): Promise<PolicyServer> {
  const { config, log } = options;
  const sessions = new Set<Session>();
  const peers = new PeerConnections(config.max_connections_per_peer);
  const server = net.createServer((socket) => {
    if (!peers.admit(socket, log)) return;
    const id = `p${++nextSessionId}`;
    const session = new Session(socket, options, log.child({ session_id: id }), `session:${id}`);
    sessions.add(session);
    socket.once('close', () => sessions.delete(session));
  });
  server.on('error', (error) => log.error({ err: error }, 'policy listener error'));
  server.maxConnections = config.max_connections;
  logDropped(server, log, config.max_connections);
  const at = options.listen.lastIndexOf(':');
  const host = options.listen.slice(0, at).replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(options.listen.slice(at + 1)), host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;
  log.debug({ max_request_size: config.max_request_size }, 'policy server bound');
  return {
    address: `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`,
    port: bound.port,
    async stop(graceMs = 5000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...sessions].map((s) => s.close(graceMs)));
      await closed;
    },
  };
}

class Session {
  private readonly decoder: PolicyDecoder;
  /** Requests are answered in order: each waits for the one before it. */
  private chain: Promise<void> = Promise.resolve();
  /** The transaction (instance) in progress on this connection, until END-OF-MESSAGE. */
  private open: string | null = null;
  private closing = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: PolicyServerOptions,
    private readonly log: Logger,
    /** The transaction name when Postfix sends no instance (kept: pino's bindings() re-parses JSON). */
    private readonly fallbackTransaction: string,
  ) {
    this.decoder = new PolicyDecoder(options.config.max_request_size);
    socket.setNoDelay(true);
    socket.setTimeout(options.config.idle_timeout);
    socket.on('timeout', () => {
      this.log.info('policy connection idle too long, closing');
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.log.debug({ err: error }, 'policy connection error'));
    socket.once('close', () => this.closed());
  }

  /** Finishes the request in hand (up to graceMs), then closes the connection. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([this.chain, deadline]);
    clearTimeout(timer);
    this.socket.end();
    this.socket.destroySoon();
  }

  private receive(chunk: Buffer): void {
    if (this.closing) return;
    for (const item of this.decoder.push(chunk)) {
      if (item.type === 'oversize') {
        this.log.warn(
          { bytes: item.bytes, max_request_size: this.options.config.max_request_size },
          'policy request too large, closing the connection',
        );
        this.closing = true;
        // Answers already queued still go out before the close.
        this.chain = this.chain.then(() => {
          this.socket.end();
        });
        return;
      }
      this.chain = this.chain.then(() => this.answer(item));
    }
  }

  private async answer(item: Exclude<Decoded, { type: 'oversize' }>): Promise<void> {
    if (item.type === 'malformed') {
      this.log.warn({ reason: item.reason }, 'malformed policy request');
      return this.reply(MALFORMED_ACTION);
    }
    const attributes = item.attributes;
    const kind = attributes.get('request');
    if (kind !== 'smtpd_access_policy') {
      this.log.warn({ request: kind ?? null }, 'unsupported policy request type');
      return this.reply(MALFORMED_ACTION);
    }
    const query = queryFrom(attributes, this.fallbackTransaction);
    if (query.transaction !== this.open && this.open !== null) this.abandon(this.open);
    this.open = query.stage === 'end-of-message' ? null : query.transaction;

    const decision = await this.options.policy.decide(query);
    const action = actionFor(decision, this.options.config);
    const fields = {
      instance: query.transaction,
      protocol_state: attributes.get('protocol_state') ?? null,
      sasl_username: query.keyId,
      client_address: query.clientAddress,
      sender: query.sender,
      action,
    };
    switch (decision.kind) {
      case 'key-rejected':
        this.log.info({ ...fields, reason: decision.reason }, 'policy: API key refused');
        break;
      case 'over-limit':
        this.log.info({ ...fields, ...decision.exceeded }, 'policy: over limit');
        break;
      case 'unavailable':
        // Info, not warn: the store logs the outage itself once per change of state.
        this.log.info(
          {
            ...fields,
            ...(isStoreOutage(decision.error)
              ? outageSummary(decision.error)
              : { error: decision.error.message }),
          },
          'policy: store unavailable',
        );
        break;
      default:
        if (this.log.isLevelEnabled('debug')) this.log.debug(fields, 'policy request');
    }
    this.reply(action);
  }

  private reply(action: string): void {
    if (this.socket.destroyed) return;
    this.socket.write(encodeAction(action));
  }

  private abandon(transaction: string): void {
    void this.options.policy.abandon(transaction).then((error) => {
      if (error)
        this.log.warn({ err: error, instance: transaction }, 'could not release an abandoned transaction');
      else this.log.debug({ instance: transaction }, 'released an abandoned transaction');
    });
  }

  private closed(): void {
    const pending = this.decoder.pendingBytes();
    if (pending > 0) this.log.warn({ bytes: pending }, 'policy connection closed in the middle of a request');
    // smtpd is gone (or reconnects): a transaction it left open will not see END-OF-MESSAGE here.
    // Releasing is safe even if it does elsewhere: commit counts what happened regardless of holds.
    if (this.open !== null) {
      const open = this.open;
      this.open = null;
      void this.chain.then(() => this.abandon(open));
    }
  }
}
