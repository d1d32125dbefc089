/** `sluice queue summary`: queued messages by destination domain (count, oldest, last error). */
import type { DomainSummary } from '../queue/view.js';
import { adminRequest } from './admin-client.js';
import type { Parsed } from './command.js';
import { fromServerOrSpool } from './queue-source.js';
import { printTable } from './table.js';

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  const domains = await fromServerOrSpool(
    config,
    async () =>
      (await adminRequest<{ domains: DomainSummary[] }>(config, 'GET', '/v1/queue/summary')).domains,
    (queue) => queue.summary(),
  );
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(domains)}\n`);
    return 0;
  }
  printTable(
    ['DOMAIN', 'MESSAGES', 'RCPTS', 'HELD', 'OLDEST', 'LAST ERROR'],
    domains.map((d) => [
      d.domain,
      String(d.messages),
      String(d.recipients),
      String(d.held),
      d.oldest,
      d.last_error ?? '-',
    ]),
  );
  return 0;
}
