/**
 * A Dovecot-auth-protocol client on node:net, driving `sluice auth` as Postfix's
 * xsasl_dovecot_server does (VERSION + CPID, wait for DONE, AUTH with service=smtp, nologin,
 * lip/rip, optional secured and resp=), but able to keep many requests in flight on one
 * connection. For tests and bench/auth. Loopback only.
 */
import net from 'node:net';

export interface AuthRequest {
  mechanism: 'PLAIN' | 'LOGIN';
  user: string;
  password: string;
  rip?: string;
  secured?: boolean;
  /** PLAIN: send the credentials as resp= (default) or after an empty CONT. */
  initialResponse?: boolean;
  /** PLAIN: the authorization identity (RFC 4616 authzid); empty by default. */
  authzid?: string;
}

export interface AuthReply {
  verdict: 'OK' | 'FAIL';
  /** Parameters after the id, e.g. { user: "…" } or { reason: "…", temp: true }. */
  params: Record<string, string | true>;
  /** How many CONT challenges the server sent before answering. */
  challenges: string[];
}

export class AuthClient {
  private buffer = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (line: string[]) => void>();
  private readonly lineWaiters: Array<(line: string[]) => void> = [];
  /** Lines that arrived before anyone asked for them. */
  private readonly unread: string[][] = [];
  readonly handshake: string[][] = [];
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buffer += text;
      for (let eol = this.buffer.indexOf('\n'); eol !== -1; eol = this.buffer.indexOf('\n')) {
        const fields = this.buffer.slice(0, eol).split('\t');
        this.buffer = this.buffer.slice(eol + 1);
        this.dispatch(fields);
      }
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
    });
  }

  /** Connects and completes the handshake (through DONE). */
  static async connect(
    port: number,
    options: { version?: string; localAddress?: string } = {},
  ): Promise<AuthClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const local = options.localAddress ? { localAddress: options.localAddress } : {};
      const s = net.connect({ port, host: '127.0.0.1', ...local }, () => resolve(s));
      s.once('error', reject);
    });
    const client = new AuthClient(socket);
    socket.write(`VERSION\t${options.version ?? '1\t0'}\nCPID\t${process.pid}\n`);
    for (;;) {
      const line = await client.nextLine();
      client.handshake.push(line);
      if (line[0] === 'DONE') return client;
    }
  }

  private dispatch(fields: string[]) {
    const id = Number(fields[1]);
    const waiter = ['OK', 'FAIL', 'CONT'].includes(fields[0] ?? '') ? this.waiting.get(id) : undefined;
    if (waiter) return waiter(fields);
    const next = this.lineWaiters.shift();
    if (next) next(fields);
    else this.unread.push(fields);
  }

  /** The next line that is not a reply to a request of ours; rejects if the connection closes. */
  nextLine(timeoutMs = 10_000): Promise<string[]> {
    const ready = this.unread.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no line from the auth server')), timeoutMs);
      this.closed.then(() => reject(new Error('auth connection closed')));
      this.lineWaiters.push((line) => {
        clearTimeout(timer);
        resolve(line);
      });
    });
  }

  write(raw: string | Buffer): void {
    this.socket.write(raw);
  }

  /** One AUTH conversation to its OK or FAIL; others may run at the same time. */
  auth(request: AuthRequest): Promise<AuthReply> {
    const id = this.nextId++;
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const plain = b64(`${request.authzid ?? ''}\0${request.user}\0${request.password}`);
    const challenges: string[] = [];
    return new Promise<AuthReply>((resolve, reject) => {
      this.closed.then(() => reject(new Error(`auth connection closed before request ${id} ended`)));
      this.waiting.set(id, (fields) => {
        const [verdict, , ...rest] = fields;
        if (verdict === 'CONT') {
          const challenge = Buffer.from(rest[0] ?? '', 'base64').toString();
          challenges.push(challenge);
          const answer =
            request.mechanism === 'PLAIN'
              ? plain
              : b64(challenge === 'Username:' ? request.user : request.password);
          this.socket.write(`CONT\t${id}\t${answer}\n`);
          return;
        }
        this.waiting.delete(id);
        const params: Record<string, string | true> = {};
        for (const field of rest) {
          const eq = field.indexOf('=');
          if (eq === -1) params[field] = true;
          else params[field.slice(0, eq)] = field.slice(eq + 1);
        }
        resolve({ verdict: verdict as 'OK' | 'FAIL', params, challenges });
      });
      let line = `AUTH\t${id}\t${request.mechanism}\tservice=smtp\tnologin\tlip=127.0.0.1\trip=${request.rip ?? '127.0.0.1'}`;
      if (request.secured ?? true) line += '\tsecured';
      if (request.mechanism === 'PLAIN' && (request.initialResponse ?? true)) line += `\tresp=${plain}`;
      this.socket.write(`${line}\n`);
    });
  }

  close(): Promise<void> {
    this.socket.end();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
