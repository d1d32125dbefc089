/**
 * Outbound SMTP connections, pooled per next hop (address:port) and reused across messages:
 * at most `maxPerHop` open to one hop, each used for at most `maxMessages` messages and closed
 * after `idleMs` without work. Callers wait in FIFO order for a connection to free up.
 * The SMTP client is nodemailer's SMTPConnection (PIPELINING, STARTTLS, SMTPUTF8 handled there).
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Hop } from './route.js';

export interface PoolOptions {
  maxPerHop: number;
  maxMessages: number;
  idleMs: number;
  connectMs: number;
  commandMs: number;
  heloName: string;
  tls: 'none' | 'may' | 'require';
}

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
    private readonly options: PoolOptions,
  ) {}

  get size(): number {
    return this.open;
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

  private connect(): Promise<Slot> {
    const { options, hop } = this;
    const connection = new SMTPConnection({
      host: hop.address,
      port: hop.port,
      name: options.heloName,
      connectionTimeout: options.connectMs,
      greetingTimeout: options.connectMs,
      socketTimeout: options.commandMs,
      ignoreTLS: options.tls === 'none',
      // Opportunistic TLS: encrypt when offered, never verify (RFC 7435); verification is per-destination policy.
      tls: { rejectUnauthorized: false, servername: hop.name },
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

export class ConnectionPool {
  private readonly pools = new Map<string, HopPool>();

  constructor(private readonly options: PoolOptions) {}

  acquire(hop: Hop): Promise<Lease> {
    const key = `${hop.address}|${hop.port}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = new HopPool(hop, this.options);
      this.pools.set(key, pool);
    }
    return pool.acquire();
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
