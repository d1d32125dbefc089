/**
 * The milter door's network side: listens on `inet:host:port` or `unix:/path` (the socket file
 * gets the configured mode; a stale socket file is replaced), and runs one MilterSession per
 * connection (Postfix opens one per SMTP client). It frames bytes with the codec and feeds the
 * session one command at a time, in order: a command's replies are sent before the next command
 * is handled, so the MTA sees replies in the order of its commands even when handlers are slow.
 * Bad input (length 0 or over milter.max_packet_size, an unknown command, a malformed or
 * out-of-order packet, a stream ending mid-packet, an idle peer) closes that connection with a
 * log line saying why; the process and every other connection carry on.
 * Connections are capped overall and per peer address (a unix socket's peers are not counted per
 * peer). A connection with no message open (before negotiation, between messages) silent for
 * idleTimeoutMs is closed; with a message open, the MTA may be receiving a large message from a
 * slow client meanwhile, with nothing to tell the filter, so it gets messageIdleTimeoutMs.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import type { Logger } from '../log.js';
import { logDropped, PeerConnections } from '../net/peer-connections.js';
import { stopServer } from '../net/stop-server.js';
import type { MilterHandlers } from './handlers.js';
import { MilterSession } from './session.js';
import { decodeCommand, PacketFramer, WireError } from './wire.js';

export interface MilterServerOptions {
  listen: string;
  /** File mode of a unix socket, e.g. 0o660. */
  socketMode: number;
  maxPacketSize: number;
  idleTimeoutMs: number;
  /** Silence allowed while a message is open (MAIL to end of message). */
  messageIdleTimeoutMs: number;
  maxConnections: number;
  maxConnectionsPerPeer: number;
  progressIntervalMs?: number;
}

export interface MilterServer {
  /** "host:port" or the socket path actually bound. */
  address: string;
  stop(): Promise<void>;
}

const STOP_GRACE_MS = 2_000;
/** Past this many commands waiting for a slow handler, the socket is not read until they drain. */
const MAX_QUEUED = 64;
/** Session phases in which a message is open. */
const MESSAGE_PHASES: ReadonlySet<string> = new Set(['mail', 'data', 'headers', 'body']);

export async function startMilterServer(
  options: MilterServerOptions,
  handlers: () => MilterHandlers,
  log: Logger,
): Promise<MilterServer> {
  const sockets = new Set<net.Socket>();
  const peers = new PeerConnections(options.maxConnectionsPerPeer);
  let connections = 0;

  const server = net.createServer((socket) => {
    if (!peers.admit(socket, log)) return;
    sockets.add(socket);
    const connLog = log.child({ conn: ++connections, peer: socket.remoteAddress ?? 'unix' });
    const framer = new PacketFramer(options.maxPacketSize);
    const session = new MilterSession({
      handlers: handlers(),
      send: (bytes) => {
        if (!socket.destroyed) socket.write(bytes);
      },
      close: () => socket.end(),
      hold: () => socket.cork(),
      release: () => socket.uncork(),
      log: connLog,
      ...(options.progressIntervalMs !== undefined ? { progressIntervalMs: options.progressIntervalMs } : {}),
    });
    let chain = Promise.resolve();
    let queued = 0;
    let timedForMessage = false;
    // Only on a change of phase (twice a message): the timer is not re-armed per command.
    const timeFor = (inMessage: boolean) => {
      if (inMessage === timedForMessage) return;
      timedForMessage = inMessage;
      socket.setTimeout(inMessage ? options.messageIdleTimeoutMs : options.idleTimeoutMs);
    };
    const settled = () => {
      timeFor(MESSAGE_PHASES.has(session.state));
      queued--;
      if (queued <= MAX_QUEUED && socket.isPaused() && !socket.destroyed) socket.resume();
    };
    const failed = (error: unknown) => {
      connLog.error({ err: error }, 'milter session failed: closing the connection');
      session.end();
      settled();
    };
    // Two promise steps per command, not three (.catch then .finally): ~20 commands a message.
    const enqueue = (run: () => Promise<void> | void) => {
      queued++;
      if (queued > MAX_QUEUED) socket.pause();
      chain = chain.then(run).then(settled, failed);
    };
    socket.setTimeout(options.idleTimeoutMs, () => {
      const idleMs = timedForMessage ? options.messageIdleTimeoutMs : options.idleTimeoutMs;
      connLog.info({ idle_ms: idleMs, in_message: timedForMessage }, 'milter connection idle: closing');
      enqueue(() => session.end());
      socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      const { packets, error } = framer.push(chunk);
      for (const packet of packets) {
        let command: ReturnType<typeof decodeCommand>;
        try {
          command = decodeCommand(packet);
        } catch (decodeError) {
          if (!(decodeError instanceof WireError)) throw decodeError;
          enqueue(() => session.protocolError(decodeError));
          socket.pause();
          return;
        }
        enqueue(() => session.receive(command));
      }
      if (error) {
        enqueue(() => session.protocolError(error));
        // A peer still streaming a huge packet is not read any further.
        socket.pause();
      }
    });
    socket.on('end', () => {
      if (framer.pending > 0) connLog.warn({ bytes: framer.pending }, 'MTA closed the connection mid-packet');
      enqueue(() => session.end());
    });
    socket.on('error', (error) => connLog.debug({ err: error }, 'milter connection error'));
    socket.on('close', () => {
      enqueue(() => session.end());
      sockets.delete(socket);
    });
  });
  server.maxConnections = options.maxConnections;
  logDropped(server, log, options.maxConnections);
  server.on('error', (error) => log.error({ err: error }, 'milter listener error'));

  const address = await listen(server, options);
  return {
    address,
    stop: () => stopServer(server, sockets, STOP_GRACE_MS),
  };
}

async function listen(server: net.Server, options: MilterServerOptions): Promise<string> {
  const bind = (target: net.ListenOptions) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target, () => {
        server.off('error', reject);
        resolve();
      });
    });
  if (options.listen.startsWith('unix:')) {
    const file = options.listen.slice('unix:'.length);
    removeStaleSocket(file);
    await bind({ path: file });
    chmodSync(file, options.socketMode);
    return file;
  }
  const spec = options.listen.slice('inet:'.length);
  const at = spec.lastIndexOf(':');
  await bind({ host: spec.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(spec.slice(at + 1)) });
  const bound = server.address() as net.AddressInfo;
  return bound.family === 'IPv6' ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}

/** A socket file left by a process that died is in the way; anything else at that path is not ours. */
function removeStaleSocket(file: string): void {
  try {
    if (lstatSync(file).isSocket()) unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
