/** `sluice suppressions add ADDRESS...`: suppress recipients (both types unless --type says one). */
import { addSuppressions, parseSuppressionType, suppressionInputs } from '../core/suppressions-admin.js';
import { type Parsed, UsageError } from './command.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  if (parsed.positionals.length === 0) throw new UsageError('suppressions add needs an address');
  const type = parseSuppressionType(parsed.values.type as string | undefined);
  const description = parsed.values.description as string | undefined;
  const entries = suppressionInputs(parsed.positionals, type, description);
  await withStores(parsed.config(), (stores) => addSuppressions(stores.suppressions, entries));
  for (const r of entries) process.stdout.write(`suppressed ${r.recipient} (${r.type})\n`);
  return 0;
}
