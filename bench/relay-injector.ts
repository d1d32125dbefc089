/**
 * The benches' own SMTP injector (nodemailer's SMTPConnection, the client Sluice itself uses):
 * `sessions` clients in parallel, sending `messages` between them, any number of recipients per
 * message, in one of two session patterns:
 * - reused: each client opens one connection and sends its share one after another over it;
 * - reconnect: a new connection for every message (how cron jobs, PHP mail libraries and many app
 *   frameworks send), optionally with STARTTLS and AUTH on each (the submission bench), and
 *   optionally offering the TLS session of the client's previous connection for resumption.
 * It records each message's inject latency: from handing the message to the client to the
 * server's 250 after DATA (reused), or from starting the TCP connect to that 250 (reconnect);
 * for a durable MTA it includes its fsync. Rejects on the first failed message: a bench must not
 * count lost mail as speed.
 */
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';

export interface InjectOptions {
  port: number;
  sessions: number;
  messages: number;
  /** Recipients of message i. */
  rcpts(i: number): string[];
  /** Bytes of message i (CRLF lines). */
  body(i: number): Buffer;
  from: string;
  timeoutMs: number;
  /** A new connection per message instead of one reused connection per client. */
  reconnect?: boolean;
  /** STARTTLS (required) before sending; the server's certificate is not verified (scratch pairs). */
  starttls?: boolean;
  /** AUTH PLAIN with these credentials on every connection. */
  auth?: { user: string; pass: string };
  /** With starttls and reconnect: offer the previous connection's TLS session (ticket) to resume it. */
  resumeTls?: boolean;
}

export interface InjectStats {
  /** Every message's inject latency in milliseconds. */
  latencies: number[];
  /** TLS handshakes that resumed an earlier session, out of `handshakes`. */
  resumed: number;
  handshakes: number;
}

/** Resolves with every message's inject latency in milliseconds. */
export async function injectWithNode(options: InjectOptions): Promise<number[]> {
  return (await injectWithStats(options)).latencies;
}

export async function injectWithStats(options: InjectOptions): Promise<InjectStats> {
  const stats: InjectStats = { latencies: [], resumed: 0, handshakes: 0 };
  let next = 0;
  const client = async () => {
    let session: Buffer | undefined;
    const open = async () => {
      const connection = new SMTPConnection({
        host: '127.0.0.1',
        port: options.port,
        name: 'source.sluice-bench.example',
        ...(options.starttls
          ? {
              requireTLS: true,
              tls: { rejectUnauthorized: false, ...(options.resumeTls && session ? { session } : {}) },
            }
          : { ignoreTLS: true }),
        socketTimeout: options.timeoutMs,
        connectionTimeout: options.timeoutMs,
      });
      await new Promise<void>((resolve, reject) => {
        connection.once('error', reject);
        connection.connect(() => {
          connection.off('error', reject);
          resolve();
        });
      });
      if (options.starttls) {
        stats.handshakes++;
        if (tlsOf(connection).isSessionReused()) stats.resumed++;
      }
      if (options.auth) {
        const auth = options.auth;
        await new Promise<void>((resolve, reject) => {
          connection.login({ user: auth.user, pass: auth.pass, method: 'PLAIN' }, (error) =>
            error ? reject(error) : resolve(),
          );
        });
      }
      return connection;
    };
    const send = (connection: SMTPConnection, i: number) =>
      new Promise<void>((resolve, reject) => {
        connection.send({ from: options.from, to: options.rcpts(i) }, options.body(i), (error, info) => {
          if (error) return reject(error);
          if (info.rejected.length > 0) return reject(new Error(`refused: ${info.rejected.join(', ')}`));
          resolve();
        });
      });

    if (options.reconnect) {
      for (let i = next++; i < options.messages; i = next++) {
        const start = performance.now();
        const connection = await open();
        try {
          await send(connection, i);
          stats.latencies.push(performance.now() - start);
          // By the 250 the server's TLS 1.3 ticket has arrived: the next connection offers it.
          if (options.starttls && options.resumeTls) session = tlsOf(connection).getSession() ?? session;
        } finally {
          connection.quit();
        }
      }
      return;
    }
    const connection = await open();
    try {
      for (let i = next++; i < options.messages; i = next++) {
        const start = performance.now();
        await send(connection, i);
        stats.latencies.push(performance.now() - start);
      }
    } finally {
      connection.quit();
    }
  };
  await Promise.all(Array.from({ length: options.sessions }, client));
  return stats;
}

/** nodemailer keeps its TLS socket private; the bench reads it for session resumption only. */
function tlsOf(connection: SMTPConnection): TLSSocket {
  return (connection as unknown as { _socket: TLSSocket })._socket;
}

/** The p-th percentile (0-100) by nearest rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A message of about `size` bytes: headers plus lines of printable text. */
export function benchMessage(i: number, size: number, from: string): Buffer {
  const header = `From: ${from}\r\nTo: undisclosed-recipients:;\r\nSubject: bench ${i}\r\nMessage-ID: <bench-${i}@sluice-bench.example>\r\n\r\n`;
  const line = `${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}\r\n`;
  const lines = Math.max(1, Math.ceil((size - header.length) / line.length));
  return Buffer.from(header + line.repeat(lines));
}
