/**
 * HTTP/1.1 by hand over a loopback TCP socket, for tests that must control every byte and every
 * pause (trickled or abandoned bodies, idle connections, floods) where fetch would hide them,
 * plus a reader for a child process's counters in /proc (bytes read, resident and peak memory),
 * with which tests bound what a request cost the server instead of timing it.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

export interface RawConnection {
  socket: net.Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server closed (or reset) the connection. */
  closed: Promise<void>;
  /** The status line and headers, once a whole head has arrived. */
  head(): string | null;
}

export function rawConnect(port: number, localAddress = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
    });
    socket.on('error', () => {});
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => text,
        closed,
        head: () => {
          const end = text.indexOf('\r\n\r\n');
          return end === -1 ? null : text.slice(0, end);
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** The status code of the first answer on a connection, or null when none has arrived. */
export function statusOf(connection: RawConnection): number | null {
  const match = /^HTTP\/1\.1 (\d{3}) /.exec(connection.received());
  return match ? Number(match[1]) : null;
}

/**
 * Sends a request head, then up to `bodyBytes` of body in 64 KiB writes, each after the previous
 * one was taken (as chunked framing when `chunked`). By default it stops at the first byte of an
 * answer, as a client that reads while it uploads; with `ignoreAnswer` it goes on until the
 * server closes, as an attacker would. Returns the connection and the body bytes written.
 */
export async function upload(
  port: number,
  head: string,
  bodyBytes: number,
  options: { chunked?: boolean; ignoreAnswer?: boolean } = {},
): Promise<{ connection: RawConnection; written: number }> {
  const connection = await rawConnect(port);
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  let written = 0;
  let over = false;
  void connection.closed.then(() => {
    over = true;
  });
  await write(connection.socket, head);
  while (written < bodyBytes && !over && (options.ignoreAnswer || connection.received() === '')) {
    const piece = chunk.subarray(0, Math.min(chunk.length, bodyBytes - written));
    const framed = options.chunked
      ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
      : piece;
    if (!(await write(connection.socket, framed))) break;
    written += piece.length;
    // Writes that complete at once would otherwise never let the answer be read.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { connection, written };
}

function write(socket: net.Socket, data: string | Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(false);
    socket.write(data, (error) => resolve(!error));
  });
}

export interface ProcessCounters {
  /** Bytes the process got from read-like system calls, sockets included (/proc/PID/io rchar). */
  bytesRead: number;
  /** Resident memory now and at its peak, in bytes. */
  rss: number;
  peakRss: number;
}

export function processCounters(pid: number): ProcessCounters {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (text: string, name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(text)?.[1]);
  return {
    bytesRead: field(io, 'rchar'),
    rss: field(status, 'VmRSS') * 1024,
    peakRss: field(status, 'VmHWM') * 1024,
  };
}
