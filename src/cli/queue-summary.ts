/** `sluice queue summary`: queued messages by destination domain (count, oldest, last error). */
import type { DomainSummary } from '../queue/control.js';
import { adminRequest } from './admin-client.js';
import type { Parsed } from './command.js';
import { printTable } from './table.js';

export async function run(parsed: Parsed): Promise<number> {
  const { domains } = await adminRequest<{ domains: DomainSummary[] }>(
    parsed.config(),
    'GET',
    '/v1/queue/summary',
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
