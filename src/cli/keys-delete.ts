/** `sluice keys delete ID`: revoke a key; a running server refuses it from the next AUTH on. */
import { type Parsed, UsageError } from './command.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const id = parsed.positionals[0];
  if (!id) throw new UsageError('keys delete needs a key ID');
  const deleted = await withStores(parsed.config(), (_stores, keys) => keys.delete(id));
  if (!deleted) {
    process.stderr.write(`no key with id ${id}\n`);
    return 1;
  }
  process.stdout.write(`key ${id} deleted\n`);
  return 0;
}
