/**
 * The bench's own SMTP injector (nodemailer's SMTPConnection, the client Sluice itself uses):
 * `sessions` connections in parallel, each sending its share of `messages` one after another over
 * the same connection, any number of recipients per message. It records each message's inject
 * latency: from handing the message to the client to the server's 250 after DATA, which for a
 * durable MTA includes its fsync. Rejects on the first failed message: a bench must not count
 * lost mail as speed.
 */
import { performance } from 'node:perf_hooks';
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
}

/** Resolves with every message's inject latency in milliseconds. */
export async function injectWithNode(options: InjectOptions): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const session = async () => {
    const connection = new SMTPConnection({
      host: '127.0.0.1',
      port: options.port,
      name: 'source.sluice-bench.example',
      ignoreTLS: true,
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
    try {
      for (let i = next++; i < options.messages; i = next++) {
        const start = performance.now();
        await new Promise<void>((resolve, reject) => {
          connection.send({ from: options.from, to: options.rcpts(i) }, options.body(i), (error, info) => {
            if (error) return reject(error);
            if (info.rejected.length > 0) return reject(new Error(`refused: ${info.rejected.join(', ')}`));
            resolve();
          });
        });
        latencies.push(performance.now() - start);
      }
    } finally {
      connection.quit();
    }
  };
  await Promise.all(Array.from({ length: options.sessions }, session));
  return latencies;
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
