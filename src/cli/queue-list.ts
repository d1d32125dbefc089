/**
 * `sluice queue list`: queued messages (postqueue -p), oldest first, optionally of one domain.
 * The first DEFAULT_LIMIT unless --limit or --all says otherwise: a queue of a hundred thousand
 * deferred messages would otherwise be read whole from the spool for a glance; the footer says
 * how many there are in all.
 */
import type { QueuedMessage } from '../queue/control.js';
import { adminRequest } from './admin-client.js';
import { type Command, UsageError } from './command.js';
import { printTable } from './table.js';

const DEFAULT_LIMIT = 1000;

export const queueList: Command = {
  name: 'queue list',
  summary: 'list queued messages',
  usage: `sluice queue list [--domain D] [--limit N (default ${DEFAULT_LIMIT}) | --all] [--json]`,
  options: {
    domain: { type: 'string' },
    limit: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(parsed) {
    const query = new URLSearchParams();
    if (parsed.values.domain) query.set('domain', String(parsed.values.domain));
    if (parsed.values.limit !== undefined) {
      if (parsed.values.all) throw new UsageError('--limit and --all exclude each other');
      if (!/^[1-9]\d*$/.test(String(parsed.values.limit)))
        throw new UsageError('--limit must be a positive integer');
      query.set('limit', String(parsed.values.limit));
    } else if (!parsed.values.all) query.set('limit', String(DEFAULT_LIMIT));
    const { messages, total } = await adminRequest<{ messages: QueuedMessage[]; total: number }>(
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
        m.message_id,
        String(m.size),
        m.arrival,
        m.held ? 'held' : [...new Set(m.recipients.map((r) => r.state))].join(','),
        m.mail_from || '<>',
        m.recipients.map((r) => r.rcpt).join(','),
      ]),
    );
    const shown = messages.length < total ? `${messages.length} of ${total}` : String(messages.length);
    const more = messages.length < total ? ' (--limit N or --all for more)' : '';
    process.stdout.write(`-- ${shown} message${total === 1 ? '' : 's'}${more}\n`);
    return 0;
  },
};
