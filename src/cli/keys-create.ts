/** `sluice keys create`: make an API key and print its secret, the only time it is ever shown. */
import { type Command, list, UsageError } from './command.js';
import { parseKeyDefaults } from './key-defaults.js';
import { withStores } from './stores.js';

export const keysCreate: Command = {
  name: 'keys create',
  summary: 'create an API key (prints the key once)',
  usage:
    'sluice keys create --label L --grant smtp/inject [--grant G ...] [--valid-ip CIDR ...] [--default open_tracking=true ...] [--json]',
  options: {
    label: { type: 'string' },
    grant: { type: 'string', multiple: true },
    'valid-ip': { type: 'string', multiple: true },
    default: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  },
  async run(parsed) {
    const label = parsed.values.label as string | undefined;
    const grants = list(parsed.values.grant);
    if (!label) throw new UsageError('--label is required');
    if (grants.length === 0)
      throw new UsageError('at least one --grant is required (e.g. --grant smtp/inject)');
    const defaults = parseKeyDefaults(parsed.values.default);
    const { record, secret } = await withStores(parsed.config(), (_stores, keys) =>
      keys.create({
        label,
        grants,
        valid_ips: list(parsed.values['valid-ip']),
        ...(defaults && { defaults }),
      }),
    );
    if (parsed.values.json) {
      process.stdout.write(
        `${JSON.stringify({ id: record.id, key: secret, label, grants: record.grants })}\n`,
      );
    } else {
      process.stdout.write(`${secret}\n`);
      process.stderr.write(`key id ${record.id} created; store the key now: it cannot be shown again\n`);
    }
    return 0;
  },
};
