/**
 * `sluice queue show ID`: one queued message: sender, recipients with their state, attempts, next
 * attempt and last deferral reason. With --headers, --body or --raw (postcat -h, -b, -q): the
 * message itself as spooled (the Received line Sluice added included, X-MSYS-API taken out), bytes
 * as they are, read from the spool file whether or not a server runs. ID is the message id (the
 * 250 reply's, the events') or the queue id; they differ for a message an upstream milter named.
 */
import path from 'node:path';
import { readMessageBytes, spoolQueueDir } from '../queue/spool-read.js';
import type { QueuedMessage } from '../queue/view.js';
import { adminRequest } from './admin-client.js';
import { type Parsed, UsageError } from './command.js';
import { fromServerOrSpool } from './queue-source.js';
import { printTable } from './table.js';

const ID = /^[0-9a-f]{20}$/;

export async function run(parsed: Parsed): Promise<number> {
  const id = parsed.positionals[0];
  if (!id || parsed.positionals.length > 1) throw new UsageError('queue show needs one message ID');
  const { headers, body, raw, json } = parsed.values;
  const config = parsed.config();
  if (headers || body || raw) {
    if (json) throw new UsageError('--json shows the queue entry; --headers, --body and --raw the message');
    if (!ID.test(id)) throw new UsageError('a message id is 20 hexadecimal characters');
    const { OfflineQueue } = await import('../queue/offline-view.js');
    const queueId = await new OfflineQueue(config.data_dir, null).queueIdOf(id);
    const bytes = queueId && (await readMessageBytes(spoolQueueDir(path.resolve(config.data_dir)), queueId));
    if (!bytes) {
      process.stderr.write(`sluice queue show: no queued message ${id}\n`);
      return 1;
    }
    process.stdout.write(raw || (headers && body) ? bytes : section(bytes, headers ? 'headers' : 'body'));
    return 0;
  }
  const m = await fromServerOrSpool(
    config,
    () => adminRequest<QueuedMessage>(config, 'GET', `/v1/queue/messages/${encodeURIComponent(id)}`),
    async (queue) => {
      if (!ID.test(id)) throw new UsageError('a message id is 20 hexadecimal characters');
      const found = await queue.show(id);
      if (!found) throw new NotQueued(id);
      return found;
    },
  ).catch((error: unknown) => {
    if (error instanceof NotQueued) return null;
    throw error;
  });
  if (!m) {
    process.stderr.write(`sluice queue show: no queued message ${id}\n`);
    return 1;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(m)}\n`);
    return 0;
  }
  process.stdout.write(
    `id:         ${m.message_id}\n${m.message_id !== m.id ? `queue id:   ${m.id}\n` : ''}sender:     ${m.mail_from || '<>'}\nsize:       ${m.size}\narrival:    ${m.arrival}\nheld:       ${m.held ? 'yes' : 'no'}\nlast error: ${m.last_error ?? '-'}\n\n`,
  );
  printTable(
    ['RECIPIENT', 'STATE', 'ATTEMPTS', 'NEXT ATTEMPT', 'LAST REASON'],
    m.recipients.map((r) => [r.rcpt, r.state, String(r.attempts), r.due ?? '-', r.last_error ?? '-']),
  );
  return 0;
}

class NotQueued extends Error {}

/** The header section (its lines, without the empty line that ends it) or the body after it. */
function section(message: Buffer, which: 'headers' | 'body'): Buffer {
  const end = message.subarray(0, 2).toString('latin1') === '\r\n' ? 0 : message.indexOf('\r\n\r\n');
  if (end < 0) return which === 'headers' ? message : Buffer.alloc(0);
  if (which === 'headers') return message.subarray(0, end === 0 ? 0 : end + 2);
  return message.subarray(end === 0 ? 2 : end + 4);
}
