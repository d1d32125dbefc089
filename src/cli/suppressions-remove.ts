/** `sluice suppressions remove ADDRESS`: lift a suppression (both types unless --type says one). */
import { normalizeRecipient, parseSuppressionType, removeSuppression } from '../core/suppressions-admin.js';
import { type Parsed, UsageError } from './command.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const address = parsed.positionals[0];
  if (!address || parsed.positionals.length > 1)
    throw new UsageError('suppressions remove needs one address');
  const type = parseSuppressionType(parsed.values.type as string | undefined);
  const removed = await withStores(parsed.config(), (stores) =>
    removeSuppression(stores.suppressions, normalizeRecipient(address), type),
  );
  if (removed === 0) {
    process.stderr.write(`${address} is not suppressed\n`);
    return 1;
  }
  process.stdout.write(`removed ${removed} entr${removed === 1 ? 'y' : 'ies'} for ${address}\n`);
  return 0;
}
