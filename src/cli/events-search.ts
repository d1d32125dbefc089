/**
 * `sluice events search`: query recorded events, newest first. --json prints one JSON array (an
 * empty one when nothing matches); the readable form says when nothing matched, and under what
 * filters.
 */
import { type Parsed, UsageError } from './command.js';
import { describeFilter, filterFrom, formatEvent } from './event-format.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const filter = filterFrom(parsed.values);
  const limit = parsed.values.limit === undefined ? '100' : String(parsed.values.limit);
  if (!/^[1-9]\d{0,6}$/.test(limit))
    throw new UsageError('--limit must be a positive integer (at most 9999999)');
  filter.limit = Number(limit);
  const events = await withStores(parsed.config(), (stores) => stores.events.search(filter));
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(events)}\n`);
    return 0;
  }
  if (events.length === 0) {
    process.stdout.write(`no events match (${describeFilter(filter)})\n`);
    return 0;
  }
  for (const event of events) process.stdout.write(`${formatEvent(event, false)}\n`);
  if (events.length === filter.limit)
    process.stdout.write(`-- the newest ${filter.limit} shown; --limit N for more\n`);
  return 0;
}
