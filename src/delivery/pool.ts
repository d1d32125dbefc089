/**
 * Outbound SMTP connections, pooled per next hop (address:port, local source address and TLS
 * policy) and reused across messages: at most `maxPerHop` open to one hop, each used for at most
 * `maxMessages` messages and closed after `idleMs` without work. Callers wait in FIFO order for a
 * connection to free up; a caller may narrow the limits, the TLS policy and the source address
 * per destination (acquire's `via`). The SMTP client is nodemailer's SMTPConnection (PIPELINING,
 * SMTPUTF8 and 8BITMIME when offered). TLS: "none" never, "may" STARTTLS when offered without
 * verification (RFC 7435; a failed handshake falls back to plaintext on a fresh connection),
 * "require" STARTTLS with a certificate verified against the system CAs plus `ca`.
 */
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Hop } from './route.js';

export type TlsPolicy = 'none' | 'may' | 'require';

export interface PoolOptions {
  maxPerHop: number;
  maxMessages: number;
  idleMs: number;
  connectMs: number;
  commandMs: number;
  heloName: string;
  tls: TlsPolicy;
  /** PEM CAs trusted under "require", besides the system's. */
  ca?: string | undefined;
}

/** Per-destination choices for one acquire; unset fields keep the pool's defaults. */
export interface Via {
  tls?: TlsPolicy | undefined;
  localAddress?: string | undefined;
  maxMessages?: number | undefined;
  maxPerHop?: number | undefined;
}

type HopOptions = PoolOptions & { localAddress: string | undefined };

export interface Lease {
  connection: SMTPConnection;
  /** True when the connection already carried a message (the peer may have closed it since). */
  reused: boolean;
  /** Hand the connection back; `reusable` false closes it. */
  release(reusable: boolean): void;
}

interface Slot {
  connection: SMTPConnection;
  sent: number;
  alive: boolean;
  idleTimer: NodeJS.Timeout | null;
}

class HopPool {
  private readonly idle: Slot[] = [];
  private open = 0;
  private readonly waiters: Array<{ resolve: (lease: Lease) => void; reject: (error: Error) => void }> = [];

  constructor(
    private readonly hop: Hop,
    /** Limits may be narrowed by a later acquire; identity (tls, source address) never changes. */
    readonly options: HopOptions,
  ) {}

  get size(): number {
    return this.open;
  }

  /** Open connections waiting for a message. */
  get idleCount(): number {
    return this.idle.length;
  }

  /** No connection open (idle or leased) and nobody waiting: nothing to keep. */
  get unused(): boolean {
    return this.open === 0 && this.waiters.length === 0;
  }

  async acquire(): Promise<Lease> {
    for (let slot = this.idle.pop(); slot; slot = this.idle.pop()) {
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      slot.idleTimer = null;
      if (slot.alive) return this.lease(slot);
      this.discard(slot);
    }
    if (this.open < this.options.maxPerHop) {
      this.open++;
      try {
        return this.lease(await this.connect());
      } catch (error) {
        this.open--;
        this.wakeNext();
        throw error;
      }
    }
    return await new Promise<Lease>((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Closes the connections waiting for a message; leased ones finish what they carry. */
  closeIdle(): void {
    for (const slot of this.idle.splice(0)) this.discard(slot);
  }

  closeAll(): void {
    for (const slot of this.idle.splice(0)) this.discard(slot);
    for (const waiter of this.waiters.splice(0)) waiter.reject(new Error('delivery is shutting down'));
  }

  private lease(slot: Slot): Lease {
    let released = false;
    return {
      connection: slot.connection,
      reused: slot.sent > 0,
      release: (reusable) => {
        if (released) return;
        released = true;
        slot.sent++;
        if (!reusable || !slot.alive || slot.sent >= this.options.maxMessages) {
          this.discard(slot);
          this.wakeNext();
          return;
        }
        const waiter = this.waiters.shift();
        if (waiter) return waiter.resolve(this.lease(slot));
        slot.idleTimer = setTimeout(() => {
          const at = this.idle.indexOf(slot);
          if (at !== -1) this.idle.splice(at, 1);
          this.discard(slot);
        }, this.options.idleMs);
        slot.idleTimer.unref();
        this.idle.push(slot);
      },
    };
  }

  /** A slot closed: let the first waiter open a fresh connection in its place. */
  private wakeNext(): void {
    const waiter = this.waiters.shift();
    if (!waiter) return;
    this.acquire().then(waiter.resolve, waiter.reject);
  }

  private discard(slot: Slot): void {
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    if (slot.alive) {
      slot.alive = false;
      slot.connection.quit();
    }
    this.open--;
  }

  private async connect(): Promise<Slot> {
    if (this.options.tls !== 'may') return this.connectWith(this.options.tls);
    try {
      return await this.connectWith('may');
    } catch (error) {
      // Opportunistic means plaintext is acceptable: a peer whose TLS is broken still gets the mail.
      if ((error as { code?: string }).code !== 'ETLS') throw error;
      return this.connectWith('none');
    }
  }

  private connectWith(tls: TlsPolicy): Promise<Slot> {
    const { options, hop } = this;
    const verify = tls === 'require';
    const connection = new SMTPConnection({
      host: hop.address,
      port: hop.port,
      name: options.heloName,
      connectionTimeout: options.connectMs,
      greetingTimeout: options.connectMs,
      socketTimeout: options.commandMs,
      ignoreTLS: tls === 'none',
      requireTLS: verify,
      // A peer that refuses STARTTLS after offering it keeps the session in plaintext ("may" only).
      opportunisticTLS: tls === 'may',
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
      tls: {
        rejectUnauthorized: verify,
        // The certificate must name the host we meant to reach: the MX or relay name, not the address.
        ...(isName(hop.name) ? { servername: hop.name } : {}),
        ...(verify && options.ca ? { ca: [...rootCertificates, options.ca] } : {}),
      },
      allowInternalNetworkInterfaces: true,
    });
    const slot: Slot = { connection, sent: 0, alive: true, idleTimer: null };
    const dead = () => {
      slot.alive = false;
    };
    connection.on('error', dead);
    connection.on('end', dead);
    // nodemailer calls connect()'s callback on success (or a silent close before the greeting) only:
    // a refused connection, a timeout or a failed TLS handshake is an 'error' event, then 'end'.
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        connection.off('error', fail);
        connection.off('end', closed);
        slot.alive = false;
        connection.close();
        reject(error);
      };
      const closed = () => fail(new Error(`connection to ${hop.address}:${hop.port} closed`));
      connection.once('error', fail);
      connection.once('end', closed);
      connection.connect((error) => {
        if (error) return fail(error);
        connection.off('error', fail);
        connection.off('end', closed);
        resolve(slot);
      });
    });
  }
}

function isName(host: string): boolean {
  return host !== '' && !isIP(host.replace(/^\[(?:IPv6:)?|\]$/gi, ''));
}

export class ConnectionPool {
  private readonly pools = new Map<string, HopPool>();
  /** Swept of unused hops when it has doubled since the last sweep (amortised O(1)). */
  private sweepAt = 1024;

  constructor(private options: PoolOptions) {}

  /**
   * A reload: new connections follow `options`. Idle connections (made under the old ones) are
   * closed and every next hop starts afresh; a leased connection finishes its message and is then
   * closed when idle, with its old hop.
   */
  reconfigure(options: PoolOptions): void {
    this.options = options;
    for (const pool of this.pools.values()) pool.closeIdle();
    this.pools.clear();
  }

  acquire(hop: Hop, via: Via = {}): Promise<Lease> {
    const tls = via.tls ?? this.options.tls;
    const key = `${hop.address}|${hop.port}|${via.localAddress ?? ''}|${tls}|${hop.name.toLowerCase()}`;
    let pool = this.pools.get(key);
    if (!pool) {
      // Every next hop ever used would stay in the map otherwise.
      if (this.pools.size >= this.sweepAt) this.sweep();
      pool = new HopPool(hop, { ...this.options, tls, localAddress: via.localAddress });
      this.pools.set(key, pool);
    }
    pool.options.maxMessages = via.maxMessages ?? this.options.maxMessages;
    pool.options.maxPerHop = via.maxPerHop ?? this.options.maxPerHop;
    return pool.acquire();
  }

  /** Next hops remembered now (for tests and metrics). */
  get hops(): number {
    return this.pools.size;
  }

  private sweep(): void {
    for (const [key, pool] of this.pools) if (pool.unused) this.pools.delete(key);
    this.sweepAt = Math.max(1024, 2 * this.pools.size);
  }

  /** Open connections, all hops together, by whether a delivery holds them (for metrics). */
  usage(): { busy: number; idle: number; hops: number } {
    let open = 0;
    let idle = 0;
    for (const pool of this.pools.values()) {
      open += pool.size;
      idle += pool.idleCount;
    }
    return { busy: open - idle, idle, hops: this.pools.size };
  }

  /** Open connections, all hops together. */
  get size(): number {
    let total = 0;
    for (const pool of this.pools.values()) total += pool.size;
    return total;
  }

  closeAll(): void {
    for (const pool of this.pools.values()) pool.closeAll();
  }
}
