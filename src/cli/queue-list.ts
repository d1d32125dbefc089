/** `sluice queue list`: every queued message (postqueue -p), optionally of one domain. */
import type { QueuedMessage } from '../queue/control.js';
import { adminRequest } from './admin-client.js';
import { type Command, UsageError } from './command.js';
import { printTable } from './table.js';

export const queueList: Command = {
  name: 'queue list',
  summary: 'list queued messages',
  usage: 'sluice queue list [--domain D] [--limit N] [--json]',
  options: { domain: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
  async run(parsed) {
    const query = new URLSearchParams();
    if (parsed.values.domain) query.set('domain', String(parsed.values.domain));
    if (parsed.values.limit !== undefined) {
      if (!/^[1-9]\d*$/.test(String(parsed.values.limit)))
        throw new UsageError('--limit must be a positive integer');
      query.set('limit', String(parsed.values.limit));
    }
    const { messages } = await adminRequest<{ messages: QueuedMessage[] }>(
      parsed.config(),
      'GET',
      `/v1/queue/messages?${query}`,
    );
    if (parsed.values.json) {
      process.stdout.write(`${JSON.stringify(messages)}\n`);
      return 0;
    }
    printTable(
      ['ID', 'SIZE', 'ARRIVAL', 'STATE', 'SENDER', 'RECIPIENTS'],
      messages.map((m) => [
        m.id,
        String(m.size),
        m.arrival,
        m.held ? 'held' : [...new Set(m.recipients.map((r) => r.state))].join(','),
        m.mail_from || '<>',
        m.recipients.map((r) => r.rcpt).join(','),
      ]),
    );
    process.stdout.write(`-- ${messages.length} message${messages.length === 1 ? '' : 's'}\n`);
    return 0;
  },
};
