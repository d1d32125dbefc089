/**
 * A Postfix policy delegation client for tests: one persistent connection, one request at a time
 * (as Postfix's smtpd asks), attributes in, the reply's `action=` text out. `rcpt`/`eom` build the
 * attributes Postfix sends at RCPT and END-OF-MESSAGE for an authenticated client.
 */
import net from 'node:net';

export class PolicyClient {
  private buffered = '';
  private waiting: ((reply: string) => void) | null = null;
  private failed: ((error: Error) => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const end = this.buffered.indexOf('\n\n');
      if (end >= 0 && this.waiting) {
        const reply = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 2);
        const resolve = this.waiting;
        this.waiting = null;
        resolve(reply);
      }
    });
    const fail = () => this.failed?.(new Error('policy connection closed'));
    socket.on('close', fail);
    socket.on('error', fail);
  }

  static async connect(port: number): Promise<PolicyClient> {
    const socket = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    return new PolicyClient(socket);
  }

  /** The reply without its trailing blank line, e.g. "action=DUNNO". */
  ask(attributes: Record<string, string>): Promise<string> {
    const reply = new Promise<string>((resolve, reject) => {
      this.waiting = resolve;
      this.failed = reject;
    });
    this.socket.write(
      `${Object.entries(attributes)
        .map(([k, v]) => `${k}=${v}\n`)
        .join('')}\n`,
    );
    return reply;
  }

  end(): void {
    this.socket.end();
  }
}

export function rcpt(
  instance: string,
  sasl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    request: 'smtpd_access_policy',
    protocol_state: 'RCPT',
    protocol_name: 'ESMTP',
    client_address: '192.0.2.10',
    helo_name: 'app.example.com',
    sender: 'news@example.com',
    recipient: 'user@example.net',
    recipient_count: '0',
    instance,
    sasl_method: sasl ? 'PLAIN' : '',
    sasl_username: sasl,
    ...extra,
  };
}

export const eom = (instance: string, sasl: string, count: number) =>
  rcpt(instance, sasl, { protocol_state: 'END-OF-MESSAGE', recipient: '', recipient_count: String(count) });
