/** `sluice events search`: query recorded events, newest first. */
import type { Command } from './command.js';
import { FILTER_OPTIONS, filterFrom, formatEvent } from './event-format.js';
import { withStores } from './stores.js';

export const eventsSearch: Command = {
  name: 'events search',
  summary: 'search events by type, recipient, message id, time',
  usage:
    'sluice events search [--type T[,T]] [--recipient ADDR] [--message-id ID] [--since 1h|ISO] [--limit N] [--json]',
  options: { ...FILTER_OPTIONS, limit: { type: 'string' } },
  async run(parsed) {
    const filter = filterFrom(parsed.values);
    filter.limit = parsed.values.limit ? Number(parsed.values.limit) : 100;
    const events = await withStores(parsed.config(), (stores) => stores.events.search(filter));
    for (const event of events) process.stdout.write(`${formatEvent(event, parsed.values.json === true)}\n`);
    return 0;
  },
};
