/** `sluice keys create`: make an API key and print its secret, the only time it is ever shown. */
import { list, type Parsed, UsageError } from './command.js';
import { parseKeyDefaults } from './key-defaults.js';
import { withStores } from './stores.js';

export async function run(parsed: Parsed): Promise<number> {
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
    process.stdout.write(`${JSON.stringify({ id: record.id, key: secret, label, grants: record.grants })}\n`);
  } else {
    process.stdout.write(`${secret}\n`);
    process.stderr.write(`key id ${record.id} created; store the key now: it cannot be shown again\n`);
  }
  return 0;
}
