/**
 * A scriptable fault sink (smtp-server on a loopback port) for delivery tests. A script decides, per
 * recipient and per offer (1 for the first time the recipient is offered, 2 for the retry, ...),
 * what the sink does: accept (250), reply with a 4xx/5xx at RCPT or after DATA, answer 421 and
 * close, drop the TCP connection at a chosen phase, or stall (never answer) at a chosen phase.
 * It counts connections (to assert pool reuse) and records every accepted message with its bytes.
 * A message whose recipients all got 250 at RCPT is answered by the first DATA-phase action among
 * them (a per-message reply, as SMTP has one reply to DATA).
 */
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

/** rcpt: instead of the RCPT reply; data: during (drop) or after (stall, replies) the message data. */
export type Phase = 'rcpt' | 'data';

export type FaultAction =
  | { kind: 'accept' }
  | { kind: 'reply'; code: number; text: string; phase?: 'rcpt' | 'data' }
  | { kind: 'close421'; phase?: 'rcpt' | 'data' }
  | { kind: 'drop'; phase: Phase }
  | { kind: 'stall'; phase: Phase };

export type FaultScript = (rcpt: string, offer: number) => FaultAction;

export interface FaultMessage {
  mailFrom: string;
  rcptTo: string[];
  data: Buffer;
  text: string;
}

export interface FaultSink {
  port: number;
  messages: FaultMessage[];
  /** TCP connections accepted so far. */
  connections(): number;
  /** How often each recipient was offered (RCPT TO). */
  offers: Map<string, number>;
  /** Replaces the script (e.g. "the sink comes back"). */
  setScript(script: FaultScript): void;
  stop(): Promise<void>;
}

export const ACCEPT: FaultScript = () => ({ kind: 'accept' });

export interface FaultSinkOptions {
  port?: number;
  /** false: keep only each message's header section (large runs); `data` is then empty. */
  keepBodies?: boolean;
}

export async function startFaultSink(
  script: FaultScript = ACCEPT,
  options: FaultSinkOptions = {},
): Promise<FaultSink> {
  const port = options.port ?? 0;
  const keepBodies = options.keepBodies ?? true;
  let current = script;
  const messages: FaultMessage[] = [];
  const offers = new Map<string, number>();
  const sockets = new Map<string, Socket>();
  /** DATA-phase actions chosen at RCPT, per session. */
  const dataActions = new Map<string, FaultAction[]>();
  let connections = 0;
  const keyOf = (session: { remoteAddress: string; remotePort: number }) =>
    `${session.remoteAddress}:${session.remotePort}`;
  const drop = (session: SMTPServerSession) => sockets.get(keyOf(session))?.destroy();
  const refuse = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    size: 100 * 1024 * 1024,
    socketTimeout: 60_000,
    onConnect(session, callback) {
      dataActions.set(session.id, []);
      callback();
    },
    onClose(session) {
      dataActions.delete(session.id);
    },
    onMailFrom(_address, session, callback) {
      dataActions.set(session.id, []);
      callback();
    },
    onRcptTo(address, session, callback) {
      const rcpt = address.address;
      const offer = (offers.get(rcpt) ?? 0) + 1;
      offers.set(rcpt, offer);
      const action = current(rcpt, offer);
      const phase = 'phase' in action ? (action.phase ?? 'rcpt') : 'rcpt';
      if (phase !== 'rcpt' || action.kind === 'accept') {
        if (action.kind !== 'accept') dataActions.get(session.id)?.push(action);
        return callback();
      }
      if (action.kind === 'reply') return callback(refuse(action.code, action.text));
      if (action.kind === 'close421')
        return callback(refuse(421, '4.3.2 Service shutting down, closing channel'));
      if (action.kind === 'drop') return drop(session);
      // stall: never answer
    },
    onData(stream, session, callback) {
      const action = dataActions.get(session.id)?.[0];
      if (action?.kind === 'drop' && action.phase === 'data') {
        stream.resume();
        return drop(session);
      }
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (action?.kind === 'stall') return;
        if (action?.kind === 'reply') return callback(refuse(action.code, action.text));
        if (action?.kind === 'close421') return callback(refuse(421, '4.3.2 Service shutting down'));
        const all = Buffer.concat(chunks);
        const end = all.indexOf('\r\n\r\n');
        const data = keepBodies ? all : Buffer.alloc(0);
        messages.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          data,
          text: (keepBodies || end < 0 ? all : all.subarray(0, end)).toString('utf8'),
        });
        callback();
      });
    },
  });
  server.on('error', () => {});
  // Drops need the socket, which smtp-server's callbacks do not expose: find it by peer address.
  server.server.on('connection', (socket: Socket) => {
    connections++;
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    sockets.set(key, socket);
    socket.once('close', () => sockets.delete(key));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    messages,
    offers,
    connections: () => connections,
    setScript(next) {
      current = next;
    },
    async stop() {
      for (const socket of sockets.values()) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
