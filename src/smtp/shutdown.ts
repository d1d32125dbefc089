/**
 * Graceful stop for an SMTP listener (the SIGTERM path): refuse new connections at once, say
 * goodbye (421 4.3.2) to every connection not inside a mail transaction, and let transactions in
 * flight run to their DATA reply before closing them too. After `graceMs` whatever is left is
 * closed; nothing it sent was acknowledged, so nothing accepted is lost.
 */
import type { SMTPServer } from 'smtp-server';

export async function closeGracefully(server: SMTPServer, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const deadline = Date.now() + graceMs;
  while (server.connections.size > 0 && Date.now() < deadline) {
    for (const connection of server.connections) {
      const envelope = connection.session?.envelope;
      const inTransaction = Boolean(envelope && (envelope.mailFrom || envelope.rcptTo.length > 0));
      if (inTransaction) continue;
      connection.send(421, '4.3.2 Service shutting down, try again later');
      connection.close();
    }
    if (server.connections.size > 0) await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())]);
}
