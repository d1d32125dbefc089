/**
 * Stopping a TCP (or unix socket) door the same way everywhere: no new connections, every open
 * one asked to end, and whatever still lingers after `graceMs` destroyed, so a stuck peer cannot
 * hold a shutdown forever. The caller keeps the set of its open sockets.
 */
import type net from 'node:net';

export async function stopServer(
  server: net.Server,
  sockets: ReadonlySet<net.Socket>,
  graceMs: number,
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const socket of sockets) socket.end();
  const grace = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
  }, graceMs);
  await closed;
  clearTimeout(grace);
}
