/**
 * Real SMTP clients for end-to-end tests, each driven the way an application would drive it:
 * swaks (the Perl tool, as a child process), Python's smtplib (a `python3 -c` script fed JSON on
 * stdin), nodemailer's SMTP transport, and a raw node:net client that reads whole replies, for
 * protocol abuse no real client would commit. Plus the `sluice` CLI as a child process.
 * Every client connects to 127.0.0.0/8 only and never verifies certificates (Sluice's submission
 * listener uses a self-signed pair in tests). None of them throws on an SMTP refusal: each returns
 * what the server said, so tests assert on replies.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import { sluiceBin } from './sluice-process.js';

export interface RunResult {
  /** Exit status; null when killed by a signal. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion; never rejects on a non-zero exit. */
export function runProgram(
  file: string,
  args: string[],
  options: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        env: { ...process.env, LANG: 'C', ...options.env },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number' && !error.killed && error.signal == null)
          return reject(error);
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** `node bin/sluice.js ARGS`: the CLI exactly as a user runs it. */
export function sluiceCli(args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return runProgram(process.execPath, [sluiceBin, ...args], { timeoutMs });
}

/** `sluice events search --json` against a data dir, parsed. */
export async function searchEvents<T = Record<string, unknown>>(
  dataDir: string,
  filter: { type?: string; messageId?: string; recipient?: string } = {},
  extraArgs: string[] = [],
): Promise<T[]> {
  const args = ['events', 'search', '-o', `data_dir=${dataDir}`, '--json', '--limit', '10000', ...extraArgs];
  if (filter.type) args.push('--type', filter.type);
  if (filter.messageId) args.push('--message-id', filter.messageId);
  if (filter.recipient) args.push('--recipient', filter.recipient);
  const result = await sluiceCli(args);
  if (result.code !== 0) throw new Error(`events search failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T[];
}

/** `sluice keys create --json`: returns the key id and secret. */
export async function createKey(
  dataDir: string,
  options: { label?: string; grants?: string[]; validIps?: string[]; extraArgs?: string[] } = {},
): Promise<{ id: string; key: string }> {
  const args = ['keys', 'create', '-o', `data_dir=${dataDir}`, '--json', '--label', options.label ?? 'e2e'];
  args.push(...(options.extraArgs ?? []));
  for (const grant of options.grants ?? ['smtp/inject']) args.push('--grant', grant);
  for (const ip of options.validIps ?? []) args.push('--valid-ip', ip);
  const result = await sluiceCli(args);
  if (result.code !== 0) throw new Error(`keys create failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as { id: string; key: string };
}

/** The id in Sluice's "250 2.0.0 Ok: queued as <id>" reply, if the text holds one. */
export function queuedId(text: string): string | undefined {
  return /queued as ([0-9a-f]+)/.exec(text)?.[1];
}

// ---------------------------------------------------------------------------------------------
// swaks

export interface SwaksOptions {
  port: number;
  from: string;
  to: string[];
  /** Exact DATA contents (CRLF lines, no final dot), passed as --data @FILE. */
  data?: Buffer;
  localAddress?: string;
  tls?: boolean;
  auth?: { user: string; password: string };
  /** Anything else, e.g. ['--quit-after', 'RCPT']. */
  extra?: string[];
}

export interface SwaksResult extends RunResult {
  /** Server lines of the transcript ("<-  " and "<** " prefixes removed). */
  serverLines: string[];
  queuedId: string | undefined;
}

/** Transcript prefixes of server lines: plain "<-", under TLS "<~", errors "<**" and "<~*". */
const SWAKS_SERVER_LINE = /^<(-|~|\*\*|~\*) +/;

/**
 * One swaks session. swaks sends the DATA file line by line with CRLF and always ends it with a
 * line break of its own, so the final CRLF of `data` is dropped from the file: the message on the
 * wire is then exactly `data`.
 */
export async function swaks(options: SwaksOptions): Promise<SwaksResult> {
  const args = [
    '--server',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--from',
    options.from,
    '--to',
    options.to.join(','),
    '--helo',
    'swaks.client.test',
    '--timeout',
    '30',
  ];
  if (options.localAddress) args.push('--local-interface', options.localAddress);
  if (options.tls) args.push('--tls');
  if (options.auth)
    args.push('--auth', 'PLAIN', '--auth-user', options.auth.user, '--auth-password', options.auth.password);
  let dir: string | undefined;
  try {
    if (options.data) {
      dir = mkdtempSync(path.join(tmpdir(), 'sluice-swaks-'));
      const file = path.join(dir, 'message.eml');
      const data = options.data;
      const ending = data.length >= 2 && data[data.length - 2] === 13 && data[data.length - 1] === 10;
      writeFileSync(file, ending ? data.subarray(0, data.length - 2) : data);
      args.push('--data', `@${file}`);
    }
    args.push(...(options.extra ?? []));
    const result = await runProgram('/usr/bin/swaks', args);
    const serverLines = result.stdout
      .split('\n')
      .filter((line) => SWAKS_SERVER_LINE.test(line))
      .map((line) => line.replace(SWAKS_SERVER_LINE, '').trimEnd());
    return { ...result, serverLines, queuedId: queuedId(serverLines.join('\n')) };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Python smtplib

export interface PythonSmtpOptions {
  port: number;
  localAddress?: string;
  starttls?: boolean;
  /** With authzid, AUTH PLAIN is sent with that authorization identity (smtplib's auth() with our own blob). */
  login?: { user: string; password: string; authzid?: string };
  from?: string;
  to?: string[];
  /** Exact DATA bytes (smtplib dot-stuffs and adds the final dot). */
  data?: Buffer;
}

export interface PythonStep {
  step: 'connect' | 'ehlo' | 'starttls' | 'login' | 'mail' | 'rcpt' | 'data' | 'error';
  code: number;
  text: string;
}

const PYTHON_SCRIPT = `
import base64, json, smtplib, ssl, sys
p = json.load(sys.stdin)
steps = []
def note(step, code, text):
    if isinstance(text, bytes):
        text = text.decode('utf-8', 'replace')
    steps.append({'step': step, 'code': code, 'text': text})
    return code
try:
    source = (p['localAddress'], 0) if p.get('localAddress') else None
    s = smtplib.SMTP(timeout=30, source_address=source)
    note('connect', *s.connect('127.0.0.1', p['port']))
    s._host = '127.0.0.1'  # starttls() needs a server_hostname; connect() does not set it
    note('ehlo', *s.ehlo('python.client.test'))
    ok = True
    if p.get('starttls'):
        ok = note('starttls', *s.starttls(context=ssl._create_unverified_context())) == 220
        if ok:
            s.ehlo('python.client.test')
    if ok and p.get('login'):
        try:
            if p['login'][2] is None:
                note('login', *s.login(p['login'][0], p['login'][1]))
            else:
                blob = lambda challenge=None: p['login'][2] + '\\0' + p['login'][0] + '\\0' + p['login'][1]
                note('login', *s.auth('PLAIN', blob))
        except smtplib.SMTPAuthenticationError as e:
            note('login', e.smtp_code, e.smtp_error)
            ok = False
    if ok and p.get('from') is not None:
        ok = note('mail', *s.mail(p['from'])) == 250
        if ok:
            accepted = 0
            for rcpt in p.get('to', []):
                if note('rcpt', *s.rcpt(rcpt)) in (250, 251):
                    accepted += 1
            if accepted and p.get('data') is not None:
                try:
                    note('data', *s.data(base64.b64decode(p['data'])))
                except smtplib.SMTPDataError as e:
                    note('data', e.smtp_code, e.smtp_error)
    try:
        s.quit()
    except Exception:
        s.close()
except smtplib.SMTPResponseException as e:
    note('error', e.smtp_code, e.smtp_error)
except Exception as e:
    note('error', 0, repr(e))
print(json.dumps(steps))
`;

/** Runs one session with smtplib and returns every reply it got, step by step. */
export async function pythonSmtp(options: PythonSmtpOptions): Promise<PythonStep[]> {
  const input = JSON.stringify({
    port: options.port,
    localAddress: options.localAddress ?? null,
    starttls: options.starttls ?? false,
    login: options.login ? [options.login.user, options.login.password, options.login.authzid ?? null] : null,
    from: options.from ?? null,
    to: options.to ?? [],
    data: options.data ? options.data.toString('base64') : null,
  });
  const result = await runProgram('python3', ['-c', PYTHON_SCRIPT], { input });
  if (result.code !== 0) throw new Error(`python3 failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as PythonStep[];
}

// ---------------------------------------------------------------------------------------------
// nodemailer

export interface NodemailerOptions {
  port: number;
  from: string;
  to: string[];
  /** Exact message bytes, sent as they are (nodemailer's `raw`). */
  raw: Buffer | string;
  localAddress?: string;
  /** STARTTLS required (submission); certificates are not verified. */
  requireTLS?: boolean;
  auth?: { user: string; pass: string };
}

export interface NodemailerResult {
  ok: boolean;
  /** The final server reply ("250 2.0.0 Ok: queued as ...") or the refusal. */
  response: string;
  responseCode: number | undefined;
  /** nodemailer's error code (EAUTH, EENVELOPE, EMESSAGE, ...) on failure. */
  errorCode: string | undefined;
}

export async function nodemailerSend(options: NodemailerOptions): Promise<NodemailerResult> {
  const transport = createTransport(options);
  try {
    const info = await transport.sendMail({
      envelope: { from: options.from, to: options.to },
      raw: options.raw,
    });
    return { ok: true, response: info.response, responseCode: 250, errorCode: undefined };
  } catch (raw) {
    return failure(raw);
  } finally {
    transport.close();
  }
}

/** Connect, STARTTLS if asked, AUTH if given, QUIT: nodemailer's verify(), replies returned. */
export async function nodemailerVerify(
  options: Omit<NodemailerOptions, 'from' | 'to' | 'raw'>,
): Promise<NodemailerResult> {
  const transport = createTransport(options);
  try {
    await transport.verify();
    return { ok: true, response: '', responseCode: undefined, errorCode: undefined };
  } catch (raw) {
    return failure(raw);
  } finally {
    transport.close();
  }
}

function failure(raw: unknown): NodemailerResult {
  const error = raw as { response?: string; responseCode?: number; code?: string; message: string };
  return {
    ok: false,
    response: error.response ?? error.message,
    responseCode: error.responseCode,
    errorCode: error.code,
  };
}

function createTransport(options: Omit<NodemailerOptions, 'from' | 'to' | 'raw'>) {
  return nodemailer.createTransport({
    host: '127.0.0.1',
    port: options.port,
    secure: false,
    ignoreTLS: !options.requireTLS,
    requireTLS: options.requireTLS ?? false,
    tls: { rejectUnauthorized: false },
    name: 'nodemailer.client.test',
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    ...(options.auth ? { auth: options.auth } : {}),
    connectionTimeout: 30_000,
    greetingTimeout: 30_000,
    socketTimeout: 60_000,
  });
}

// ---------------------------------------------------------------------------------------------
// Raw socket

export interface Reply {
  code: number;
  /** Text of each line after "NNN-" / "NNN ". */
  lines: string[];
  /** Every line joined with "\n", codes included: for messages and regex checks. */
  raw: string;
}

/**
 * A bare SMTP client on node:net: send whatever bytes, read one complete (multi-line) reply at a
 * time. For the abuse no real client commits: garbage, NUL bytes, endless lines, hanging up mid-DATA.
 */
export class RawSmtp {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private ended = false;
  /** Resolves when the server has closed the connection (or it failed). */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.buffer += text;
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      const done = () => {
        this.ended = true;
        this.wake();
        resolve();
      };
      socket.once('close', done);
      socket.once('error', done);
    });
  }

  static connect(port: number, localAddress?: string): Promise<RawSmtp> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1', ...(localAddress ? { localAddress } : {}) });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawSmtp(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Connects and reads the greeting, which must be a 220. */
  static async open(port: number, localAddress?: string): Promise<RawSmtp> {
    const client = await RawSmtp.connect(port, localAddress);
    const greeting = await client.read();
    if (greeting.code !== 220) throw new Error(`unexpected greeting: ${greeting.raw}`);
    return client;
  }

  get isClosed(): boolean {
    return this.ended;
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Reads one complete reply; rejects when the connection closes first or after timeoutMs. */
  async read(timeoutMs = 30_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.take();
      if (reply) return reply;
      if (this.ended)
        throw new Error(`connection closed before a complete reply (got ${JSON.stringify(this.buffer)})`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no complete reply within ${timeoutMs} ms (got ${JSON.stringify(this.buffer)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private take(): Reply | null {
    const lines: string[] = [];
    let offset = 0;
    for (;;) {
      const eol = this.buffer.indexOf('\n', offset);
      if (eol === -1) return null;
      const line = this.buffer.slice(offset, eol).replace(/\r$/, '');
      offset = eol + 1;
      lines.push(line);
      if (!/^\d{3}-/.test(line)) {
        this.buffer = this.buffer.slice(offset);
        const code = Number(line.slice(0, 3));
        return { code, lines: lines.map((l) => l.slice(4)), raw: lines.join('\n') };
      }
    }
  }

  /**
   * Sends STARTTLS and, on its 220, returns a client speaking over TLS on the same connection
   * (certificates not verified: the test servers use self-signed ones). This client is then spent.
   */
  async startTls(): Promise<RawSmtp> {
    const reply = await this.command('STARTTLS');
    if (reply.code !== 220) throw new Error(`STARTTLS refused: ${reply.raw}`);
    this.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => {
        secure.off('error', reject);
        resolve();
      });
      secure.once('error', reject);
    });
    return new RawSmtp(secure);
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Sends one command line (CRLF added) and reads its reply. */
  async command(line: string | Buffer, timeoutMs?: number): Promise<Reply> {
    this.write(typeof line === 'string' ? `${line}\r\n` : Buffer.concat([line, Buffer.from('\r\n')]));
    return await this.read(timeoutMs);
  }

  /** Hangs up without QUIT, abruptly. */
  destroy(): void {
    this.socket.destroy();
  }

  /** QUIT if still connected, then close. Never throws. */
  async quit(): Promise<void> {
    if (!this.ended) {
      try {
        await this.command('QUIT', 5_000);
      } catch {
        // The server may already be gone; closing is all that matters.
      }
    }
    this.socket.destroy();
    await this.closed;
  }
}
