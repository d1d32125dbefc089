/** `sluice keys update ID`: change a key's label, grants, valid_ips or message defaults; a running server sees it at once. */

import type { KeyDefaults } from '../store/types.js';
import { type Command, list, UsageError } from './command.js';
import { parseKeyDefaults } from './key-defaults.js';
import { withStores } from './stores.js';

export const keysUpdate: Command = {
  name: 'keys update',
  summary: 'change the label, grants or valid IPs of a key',
  usage:
    'sluice keys update ID [--label L] [--grant G ...] [--valid-ip CIDR ... | --any-ip] [--default NAME=VALUE ... | --no-defaults]',
  options: {
    label: { type: 'string' },
    grant: { type: 'string', multiple: true },
    'valid-ip': { type: 'string', multiple: true },
    'any-ip': { type: 'boolean' },
    default: { type: 'string', multiple: true },
    'no-defaults': { type: 'boolean' },
  },
  allowPositionals: true,
  async run(parsed) {
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
  },
};
