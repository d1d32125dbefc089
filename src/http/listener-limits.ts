/**
 * The limits of the HTTP listener, which faces the Internet (it serves tracking links), so that
 * no client can hold it: Node's own headers and request timeouts (a request trickled byte by byte
 * still ends at http.request_timeout with 408), a pause limit between two reads of a body
 * (http.body_timeout), the keep-alive timeout, a cap on open connections (at the cap idle ones
 * are closed first, as nginx does; past it a new connection gets 503 and is closed) and a cap
 * per client address (Postfix-style; exempt: http.connection_limit_exceptions and the trusted
 * proxies, which carry many clients). Client errors (timeouts, unparsable requests) answer in
 * SparkPost's error shape and are logged, at most one line per kind every LOG_EVERY_MS.
 *
 * An answer sent before its request's body has arrived (401 for a missing key, 413, 415, 404)
 * does not read that body: what still comes is discarded unparsed for a little while, up to
 * LINGER_BYTES and LINGER_MS, so that a client still sending a small body gets to read the
 * answer rather than a reset (nginx's lingering close); past either, the connection is closed.
 * `Expect: 100-continue` is not answered by Node on its own, so a refused client never sends.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import type { NetworkSet } from '../core/networks.js';
import { unmapIPv4 } from '../core/networks.js';
import type { Logger } from '../log.js';

export interface ListenerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  /** 0: no per-client cap. */
  maxConnectionsPerClient: number;
  /** Clients the per-client cap does not apply to. */
  exempt: NetworkSet;
}

const LOG_EVERY_MS = 10_000;
/** What is read and dropped of a body after an early answer, at most (then the connection closes). */
export const LINGER_BYTES = 1024 * 1024;
export const LINGER_MS = 5_000;

/** One log line per kind of event per LOG_EVERY_MS, with how many were not logged in between. */
export class ThrottledLog {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly log: Logger) {}

  info(kind: string, fields: Record<string, unknown>, message: string, now = Date.now()): void {
    const last = this.seen.get(kind);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    this.log.info({ ...fields, ...(last?.suppressed ? { suppressed: last.suppressed } : {}) }, message);
    this.seen.set(kind, { at: now, suppressed: 0 });
  }
}

/** Per server, the requests whose unread rest is being dropped (see lingerThenClose). */
const lingering = new WeakMap<http.Server, Set<http.IncomingMessage>>();

/** Closes the connections still dropping a refused body, so a shutdown does not wait for them. */
export function dropLingering(server: http.Server): void {
  for (const request of lingering.get(server) ?? []) request.socket.destroy();
}

/** The http.Server fastify runs on (its serverFactory), with every limit above in place. */
export function createLimitedServer(
  handler: http.RequestListener,
  limits: ListenerLimits,
  notes: ThrottledLog,
): http.Server {
  // Every response is watched from before fastify sees the request, so that one finished in the
  // same tick is watched too.
  const dropping = new Set<http.IncomingMessage>();
  const watched: http.RequestListener = (request, response) => {
    response.prependListener('finish', () => {
      if (!request.complete) lingerThenClose(request, dropping);
    });
    handler(request, response);
  };
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks both timeouts on this interval (30 s by default, which would let a 60 s
      // limit run to 90 s); a walk over the open connections once a second costs nothing.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.headersTimeoutMs / 4)),
    },
    watched,
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  lingering.set(server, dropping);
  // Without a listener Node answers "100 Continue" itself, before the key is checked; with this
  // one the request goes through fastify like any other and server.ts continues it when allowed.
  server.on('checkContinue', watched);
  gateConnections(server, limits, notes);
  watchBodies(server, limits.bodyTimeoutMs, notes);
  return server;
}

/**
 * After an early answer. Runs before Node's own 'finish' handling, which would otherwise drop the
 * rest of the body out of sight for as long as it keeps coming; reading it here instead (the
 * stream is already flowing, or starts now, so Node leaves it alone) bounds how much and how
 * long. A body that ends within the bounds leaves the connection usable for the next request.
 */
function lingerThenClose(request: http.IncomingMessage, dropping: Set<http.IncomingMessage>): void {
  dropping.add(request);
  let dropped = 0;
  const close = () => request.socket.destroy();
  const timer = setTimeout(close, LINGER_MS);
  timer.unref();
  request.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) close();
  });
  const done = () => {
    clearTimeout(timer);
    dropping.delete(request);
  };
  request.once('end', done);
  request.once('close', done);
  request.resume();
}

/**
 * Runs before Node's own connection handling and keeps refused connections from it: http.Server
 * registers its listener at construction, so it is taken out and called only for admitted ones.
 */
function gateConnections(server: http.Server, limits: ListenerLimits, notes: ThrottledLog): void {
  const inner = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const open = new Set<Socket>();
  const perClient = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const client = unmapIPv4(socket.remoteAddress ?? '');
    const counted = limits.maxConnectionsPerClient > 0 && !limits.exempt.has(client);
    if (counted && (perClient.get(client) ?? 0) >= limits.maxConnectionsPerClient) {
      notes.info(
        'client-cap',
        { client, limit: limits.maxConnectionsPerClient },
        'HTTP connection refused: too many from this client',
      );
      return refuse(socket, 'too many connections from your address');
    }
    if (open.size >= limits.maxConnections) {
      // As nginx: idle keep-alive connections make room first (a connection that has sent
      // nothing yet is not idle to Node; http.headers_timeout ends it).
      server.closeIdleConnections();
      for (const other of open) if (other.destroyed) open.delete(other);
      if (open.size >= limits.maxConnections) {
        notes.info(
          'cap',
          { client, limit: limits.maxConnections },
          'HTTP connection refused: http.max_connections reached',
        );
        return refuse(socket, 'too many connections');
      }
    }
    open.add(socket);
    if (counted) perClient.set(client, (perClient.get(client) ?? 0) + 1);
    socket.once('close', () => {
      open.delete(socket);
      if (!counted) return;
      const left = (perClient.get(client) ?? 1) - 1;
      if (left > 0) perClient.set(client, left);
      else perClient.delete(client);
    });
    for (const listener of inner) listener.call(server, socket);
  });
}

/** 503 in SparkPost's shape, then the connection is closed (whatever the client sends is dropped). */
function refuse(socket: Socket, why: string): void {
  socket.on('error', () => {});
  socket.resume();
  socket.end(rawError(503, 'Service Unavailable', why, 'Retry-After: 5\r\n'));
  // A client that never closes its side must not keep the socket.
  setTimeout(() => socket.destroy(), 2000).unref();
}

/**
 * Answers 408 and closes connections whose request body stops arriving for bodyTimeoutMs.
 * Progress is the socket's byte count, sampled by one timer for all requests, so nothing is added
 * to the path of the bytes themselves and the stream's flow is untouched.
 */
function watchBodies(server: http.Server, bodyTimeoutMs: number, notes: ThrottledLog): void {
  const watched = new Map<
    http.IncomingMessage,
    { response: http.ServerResponse; bytes: number; since: number }
  >();
  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    const hasBody =
      request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length']) > 0;
    if (hasBody && !request.complete)
      watched.set(request, { response, bytes: request.socket.bytesRead, since: Date.now() });
  });
  const timer = setInterval(
    () => {
      const now = Date.now();
      for (const [request, progress] of watched) {
        const socket = request.socket;
        if (request.complete || socket.destroyed) {
          watched.delete(request);
          continue;
        }
        if (socket.bytesRead !== progress.bytes) {
          progress.bytes = socket.bytesRead;
          progress.since = now;
        } else if (now - progress.since >= bodyTimeoutMs) {
          watched.delete(request);
          notes.info(
            'body-timeout',
            { client: socket.remoteAddress, url: request.url, after_ms: now - progress.since },
            'HTTP request body stalled past http.body_timeout; connection closed',
          );
          // The handler is still waiting for the body, so nothing has been answered yet.
          if (!progress.response.headersSent && socket.writable)
            socket.write(rawError(408, 'request body timeout'));
          socket.destroy();
        }
      }
    },
    Math.max(50, Math.min(1000, bodyTimeoutMs / 4)),
  );
  timer.unref();
  server.once('close', () => clearInterval(timer));
}

/** A whole HTTP answer in SparkPost's error shape, for a socket no response object owns. */
function rawError(status: number, message: string, description?: string, extra = ''): string {
  const body = JSON.stringify({ errors: [{ message, ...(description ? { description } : {}) }] });
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${extra}Connection: close\r\n\r\n${body}`
  );
}

/** fastify's clientErrorHandler: what Node could not even parse or time out, in SparkPost's shape. */
export function clientErrorHandler(notes: ThrottledLog) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const overflow = error.code === 'HPE_HEADER_OVERFLOW';
    const status = timeout ? 408 : overflow ? 431 : 400;
    const message = timeout
      ? 'request timeout'
      : overflow
        ? 'request headers too large'
        : 'malformed HTTP request';
    notes.info(
      `client-error-${status}`,
      { client: socket.remoteAddress, code: error.code, status },
      `HTTP ${message}; connection closed`,
    );
    if (socket.writable) socket.write(rawError(status, message));
    socket.destroy();
  };
}
