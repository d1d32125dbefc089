/** `sluice events search`: query recorded events, newest first. */
import type { Parsed } from './command.js';
import { filterFrom, formatEvent } from './event-format.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const filter = filterFrom(parsed.values);
  filter.limit = parsed.values.limit ? Number(parsed.values.limit) : 100;
  const events = await withStores(parsed.config(), (stores) => stores.events.search(filter));
  for (const event of events) process.stdout.write(`${formatEvent(event, parsed.values.json === true)}\n`);
  return 0;
}
