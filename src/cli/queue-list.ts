/**
 * `sluice queue list`: queued messages (postqueue -p), oldest first, optionally of one domain,
 * each with the reason its last attempt was deferred. The first DEFAULT_LIMIT unless --limit or
 * --all says otherwise: a queue of a hundred thousand deferred messages would otherwise be read
 * whole from the spool for a glance; the footer says how many there are in all.
 */
import type { QueuedMessage } from '../queue/view.js';
import { adminRequest } from './admin-client.js';
import { type Parsed, UsageError } from './command.js';
import { fromServerOrSpool } from './queue-source.js';
import { printTable } from './table.js';

const DEFAULT_LIMIT = 1000;

export async function run(parsed: Parsed): Promise<number> {
  const domain = parsed.values.domain ? String(parsed.values.domain).toLowerCase() : undefined;
  let limit: number | undefined;
  if (parsed.values.limit !== undefined) {
    if (parsed.values.all) throw new UsageError('--limit and --all exclude each other');
    if (!/^[1-9]\d*$/.test(String(parsed.values.limit)))
      throw new UsageError('--limit must be a positive integer');
    limit = Number(parsed.values.limit);
  } else if (!parsed.values.all) limit = DEFAULT_LIMIT;
  const query = new URLSearchParams();
  if (domain) query.set('domain', domain);
  if (limit !== undefined) query.set('limit', String(limit));
  const config = parsed.config();
  const { messages, total } = await fromServerOrSpool(
    config,
    () =>
      adminRequest<{ messages: QueuedMessage[]; total: number }>(
        config,
        'GET',
        `/v1/queue/messages?${query}`,
      ),
    (queue) => queue.list({ domain, limit }),
  );
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(messages)}\n`);
    return 0;
  }
  printTable(
    ['ID', 'SIZE', 'ARRIVAL', 'STATE', 'SENDER', 'RECIPIENTS', 'LAST REASON'],
    messages.map((m) => [
      m.message_id,
      String(m.size),
      m.arrival,
      m.held ? 'held' : [...new Set(m.recipients.map((r) => r.state))].join(','),
      m.mail_from || '<>',
      m.recipients.map((r) => r.rcpt).join(','),
      m.last_error ?? '-',
    ]),
  );
  const shown = messages.length < total ? `${messages.length} of ${total}` : String(messages.length);
  const more = messages.length < total ? ' (--limit N or --all for more)' : '';
  process.stdout.write(`-- ${shown} message${total === 1 ? '' : 's'}${more}\n`);
  return 0;
}
