/** `sluice keys update ID`: change a key's label, grants, valid_ips or message defaults; a running server sees it at once. */

import type { KeyDefaults } from '../store/types.js';
import { list, type Parsed, UsageError } from './command.js';
import { parseKeyDefaults } from './key-defaults.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
  const id = parsed.positionals[0];
  if (!id) throw new UsageError('keys update needs a key ID');
  const patch: { label?: string; grants?: string[]; valid_ips?: string[]; defaults?: KeyDefaults } = {};
  if (parsed.values.label !== undefined) patch.label = parsed.values.label as string;
  if (parsed.values.grant !== undefined) patch.grants = list(parsed.values.grant);
  if (parsed.values['valid-ip'] !== undefined) patch.valid_ips = list(parsed.values['valid-ip']);
  if (parsed.values['any-ip']) patch.valid_ips = [];
  const defaults = parseKeyDefaults(parsed.values.default);
  if (defaults) patch.defaults = defaults;
  if (parsed.values['no-defaults']) patch.defaults = {};
  if (Object.keys(patch).length === 0)
    throw new UsageError('nothing to change: give --label, --grant, --valid-ip or --default');
  const updated = await withStores(parsed.config(), (_stores, keys) => keys.update(id, patch));
  if (!updated) {
    process.stderr.write(`no key with id ${id}\n`);
    return 1;
  }
  process.stdout.write(`key ${id} updated\n`);
  return 0;
}
