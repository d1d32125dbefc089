/** `sluice keys list`: the keys, without their secrets (only a four-character prefix). */
import type { Parsed } from './command.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const records = await withStores(parsed.config(), (_stores, keys) => keys.list());
  const rows = records.map(({ hash: _hash, ...shown }) => shown);
  if (parsed.values.json) {
    process.stdout.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  const table = [['ID', 'LABEL', 'GRANTS', 'PREFIX', 'VALID_IPS', 'CREATED', 'LAST_USED']];
  for (const r of rows) {
    table.push([
      r.id,
      r.label,
      r.grants.join(','),
      `${r.prefix}…`,
      r.valid_ips.join(',') || '-',
      r.created_at,
      r.last_used_at ?? '-',
    ]);
  }
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table)
    process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ')}\n`);
  return 0;
}
