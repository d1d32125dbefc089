/**
 * `sluice queue show ID`: one queued message: sender, recipients with their state, next attempt,
 * last error. ID is its message id (the 250 reply's, the events') or its queue id.
 */
import type { QueuedMessage } from '../queue/control.js';
import { adminRequest } from './admin-client.js';
import { type Command, UsageError } from './command.js';
import { printTable } from './table.js';

export const queueShow: Command = {
  name: 'queue show',
  summary: 'show one queued message',
  usage: 'sluice queue show ID [--json]',
  options: { json: { type: 'boolean' } },
  allowPositionals: true,
  async run(parsed) {
    const id = parsed.positionals[0];
    if (!id || parsed.positionals.length > 1) throw new UsageError('queue show needs one message ID');
    const m = await adminRequest<QueuedMessage>(
      parsed.config(),
      'GET',
      `/v1/queue/messages/${encodeURIComponent(id)}`,
    );
    if (parsed.values.json) {
      process.stdout.write(`${JSON.stringify(m)}\n`);
      return 0;
    }
    process.stdout.write(
      `id:         ${m.message_id}\n${m.message_id !== m.id ? `queue id:   ${m.id}\n` : ''}sender:     ${m.mail_from || '<>'}\nsize:       ${m.size}\narrival:    ${m.arrival}\nheld:       ${m.held ? 'yes' : 'no'}\nlast error: ${m.last_error ?? '-'}\n\n`,
    );
    printTable(
      ['RECIPIENT', 'STATE', 'ATTEMPTS', 'NEXT ATTEMPT'],
      m.recipients.map((r) => [r.rcpt, r.state, String(r.attempts), r.due ?? '-']),
    );
    return 0;
  },
};
