/**
 * A recording SMTP sink built on smtp-server: it accepts everything on a loopback port and keeps
 * each message's envelope and exact bytes, so tests assert on what a real peer received.
 * `replyFor` lets a test answer a recipient with a chosen reply (e.g. 550 or 451).
 */
import { SMTPServer } from 'smtp-server';

export interface ReceivedMessage {
  mailFrom: string;
  rcptTo: string[];
  data: Buffer;
  text: string;
  receivedAt: number;
}

export interface SinkOptions {
  port?: number;
  host?: string;
  /** Reply for a recipient: return an [code, text] pair to refuse it, or undefined to accept. */
  replyFor?: (rcpt: string) => [number, string] | undefined;
  /** Reply to DATA: return [code, text] to refuse the message. */
  dataReply?: (message: ReceivedMessage) => [number, string] | undefined;
}

export interface Sink {
  port: number;
  messages: ReceivedMessage[];
  stop(): Promise<void>;
}

export async function startSink(options: SinkOptions = {}): Promise<Sink> {
  const messages: ReceivedMessage[] = [];
  const error = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code });
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    disableReverseLookup: true,
    size: 100 * 1024 * 1024,
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
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
