/** `sluice suppressions list`: the suppression list, newest first, filtered and paged. */
import { listSuppressions, parseSuppressionType } from '../core/suppressions-admin.js';
import type { SuppressionFilter, SuppressionType } from '../store/types.js';
import { list, type Parsed, UsageError } from './command.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const { values } = parsed;
  const filter: SuppressionFilter = {};
  const type = parseSuppressionType(values.type as string | undefined);
  if (type) filter.types = [type as SuppressionType];
  const sources = list(values.source);
  if (sources.length > 0) filter.sources = sources;
  if (values.search) filter.search = String(values.search);
  if (values.cursor) filter.cursor = String(values.cursor);
  if (values.limit !== undefined) {
    const limit = Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive integer');
    filter.limit = limit;
  }
  const page = await withStores(parsed.config(), (stores) => listSuppressions(stores.suppressions, filter));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(page)}\n`);
    return 0;
  }
  const table = [['RECIPIENT', 'TYPE', 'SOURCE', 'UPDATED', 'DESCRIPTION']];
  for (const r of page.records) table.push([r.recipient, r.type, r.source, r.updated, r.description]);
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    process.stdout.write(`${row.map((cell, i) => (i === 4 ? cell : cell.padEnd(widths[i]!))).join('  ')}\n`);
  if (page.next) process.stdout.write(`more: --cursor ${page.next}\n`);
  return 0;
}
