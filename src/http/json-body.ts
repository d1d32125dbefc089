/**
 * The JSON body parser of the HTTP door. The body is read into ONE buffer (of its Content-Length,
 * or grown by doubling up to the route's body limit when chunked) rather than a list of socket
 * chunks, and that buffer is freed the moment it is no longer needed — parsed, refused, or the
 * upload aborted — instead of at V8's next major collection. Why: a list of 64 KiB chunks is
 * thousands of small mallocs that the C library cannot hand back to the system once freed
 * (measured: ten aborted 20 MB uploads left RSS 175 MB up for good), and an idle server may not
 * collect for a long time; one large buffer is a single mapping, returned whole when freed.
 * A large body's buffer is at least MAPPED_BYTES: glibc raises its threshold for mapping an
 * allocation on its own to the size of every large block freed (up to 32 MiB), after which a
 * second 19 MB body would land on the heap, whose freed memory often stays with the process;
 * from 32 MiB up every allocation is mapped and unmapped when freed. Pages that are never
 * written to cost no memory, so the larger reservation costs address space only.
 * A body over the limit is 413 as soon as the Content-Length or the bytes say so; malformed JSON
 * is 400; an empty body is no body; a "__proto__" member never survives parsing (parse-json.ts).
 */
import type { IncomingMessage } from 'node:http';
import { MessageChannel } from 'node:worker_threads';
import type { FastifyRequest } from 'fastify';
import { parseJsonText } from './parse-json.js';

/** Bodies this small are left to the garbage collector; detaching them would gain nothing. */
const RELEASE_FROM_BYTES = 64 * 1024;
/** First size for a chunked body (no Content-Length); it doubles as needed. */
const CHUNKED_START_BYTES = 64 * 1024;
/** Bodies from this size get a buffer of at least MAPPED_BYTES (see above). */
const LARGE_BODY_BYTES = 1024 * 1024;
const MAPPED_BYTES = 32 * 1024 * 1024;

/** A buffer of its own (never a slice of a shared pool, so it can be released whole). */
function allocate(bytes: number): Buffer {
  return Buffer.allocUnsafeSlow(bytes >= LARGE_BODY_BYTES ? Math.max(bytes, MAPPED_BYTES) : bytes);
}

/**
 * A port whose peer is closed: posting a buffer's memory to it with a transfer list detaches the
 * buffer and Node drops the message at once, which frees the memory without waiting for a GC.
 */
const drain = new MessageChannel();
drain.port2.close();
drain.port1.unref();

/** Frees a buffer allocate() made. */
function release(buffer: Buffer): void {
  if (buffer.length >= RELEASE_FROM_BYTES) drain.port1.postMessage(null, [buffer.buffer as ArrayBuffer]);
}

const httpError = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });

type Done = (error: Error | null, body?: unknown) => void;

/** fastify content-type parser (stream form) for application/json. */
export function parseJsonBody(request: FastifyRequest, payload: IncomingMessage, done: Done): void {
  const limit = request.routeOptions.bodyLimit ?? 0;
  const header = request.headers['content-length'];
  const declared = header === undefined ? null : Number(header);
  const refusal =
    declared === null
      ? null
      : !Number.isSafeInteger(declared) || declared < 0
        ? httpError(400, 'invalid Content-Length')
        : declared > limit
          ? httpError(413, 'request body too large')
          : null;
  if (refusal) {
    done(refusal);
    return;
  }

  let buffer: Buffer | null = allocate(declared ?? Math.min(limit, CHUNKED_START_BYTES));
  let size = 0;
  let finished = false;
  const finish = (error: Error | null, body?: unknown) => {
    if (finished) return;
    finished = true;
    payload.off('data', onData);
    payload.off('end', onEnd);
    payload.off('error', onAbort);
    payload.off('close', onAbort);
    if (buffer) release(buffer);
    buffer = null;
    done(error, body);
  };
  const onData = (chunk: Buffer) => {
    if (!buffer) return;
    if (size + chunk.length > limit) return finish(httpError(413, 'request body too large'));
    if (size + chunk.length > buffer.length) {
      const grown = allocate(Math.min(limit, Math.max(buffer.length * 2, size + chunk.length)));
      buffer.copy(grown, 0, 0, size);
      release(buffer);
      buffer = grown;
    }
    chunk.copy(buffer, size);
    size += chunk.length;
  };
  const onEnd = () => {
    const text = buffer ? buffer.toString('utf8', 0, size) : '';
    // The text is a copy; the buffer can go before parsing allocates the objects.
    if (buffer) release(buffer);
    buffer = null;
    // An empty body (some clients send one with DELETE) is no body, not malformed JSON.
    if (text.length === 0) return finish(null, undefined);
    try {
      finish(null, parseJsonText(text));
    } catch (error) {
      finish(httpError(400, `malformed JSON: ${(error as Error).message}`));
    }
  };
  // An aborted upload ends in 'error' (ECONNRESET) and/or 'close' without 'end'.
  const onAbort = (error?: Error) => finish(error ?? httpError(400, 'request body incomplete'));
  payload.on('data', onData);
  payload.on('end', onEnd);
  payload.on('error', onAbort);
  payload.on('close', onAbort);
  payload.resume();
}
