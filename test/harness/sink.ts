/**
 * A recording SMTP sink built on smtp-server: it accepts everything on a loopback port and keeps
 * each message's envelope and exact bytes, so tests assert on what a real peer received.
 * `replyFor` lets a test answer a recipient with a chosen reply (e.g. 550 or 451). With `tls` it
 * offers STARTTLS with that pair; it counts connections and records, per message, the client's
 * address, whether TLS was on and the MAIL FROM parameters (BODY=8BITMIME, SMTPUTF8).
 */
import { SMTPServer } from 'smtp-server';

export interface ReceivedMessage {
  mailFrom: string;
  rcptTo: string[];
  data: Buffer;
  text: string;
  receivedAt: number;
  remoteAddress: string;
  secure: boolean;
  /** MAIL FROM parameters, upper-cased names: { BODY: '8BITMIME', SMTPUTF8: true }. */
  mailParams: Record<string, unknown>;
}

export interface SinkOptions {
  port?: number;
  host?: string;
  /** Reply for a recipient: return an [code, text] pair to refuse it, or undefined to accept. */
  replyFor?: (rcpt: string) => [number, string] | undefined;
  /** Reply to DATA: return [code, text] to refuse the message. */
  dataReply?: (message: ReceivedMessage) => [number, string] | undefined;
  /** Offer STARTTLS with this PEM pair. */
  tls?: { key: string; cert: string };
}

export interface Sink {
  port: number;
  messages: ReceivedMessage[];
  /** Connections accepted so far, and the most open at once. */
  connections: { opened: number; open: number; peak: number };
  stop(): Promise<void>;
}

export async function startSink(options: SinkOptions = {}): Promise<Sink> {
  const messages: ReceivedMessage[] = [];
  const connections = { opened: 0, open: 0, peak: 0 };
  const error = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: options.tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(options.tls ? { key: options.tls.key, cert: options.tls.cert } : {}),
    logger: false,
    disableReverseLookup: true,
    size: 100 * 1024 * 1024,
    onConnect(_session, callback) {
      connections.opened++;
      connections.open++;
      connections.peak = Math.max(connections.peak, connections.open);
      callback();
    },
    onClose() {
      connections.open--;
    },
    onRcptTo(address, _session, callback) {
      const reply = options.replyFor?.(address.address);
      callback(reply ? error(reply[0], reply[1]) : undefined);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        const message: ReceivedMessage = {
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address),
          data,
          text: data.toString('utf8'),
          receivedAt: Date.now(),
          remoteAddress: session.remoteAddress,
          secure: session.secure,
          mailParams: session.envelope.mailFrom ? { ...session.envelope.mailFrom.args } : {},
        };
        const reply = options.dataReply?.(message);
        if (reply) return callback(error(reply[0], reply[1]));
        messages.push(message);
        callback();
      });
    },
  });
  // A peer that dies mid-transaction (kill -9 of the MTA under test) is not the sink's failure.
  server.on('error', () => {});
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, () => resolve()));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    messages,
    connections,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
