/** `sluice suppressions add ADDRESS...`: suppress recipients (both types unless --type says one). */
import { addSuppressions, parseSuppressionType, suppressionInputs } from '../core/suppressions-admin.js';
import { type Command, UsageError } from './command.js';
import { withStores } from './stores.js';

export const suppressionsAdd: Command = {
  name: 'suppressions add',
  summary: 'add recipients to the suppression list',
  usage: 'sluice suppressions add ADDRESS... [--type transactional|non_transactional] [--description TEXT]',
  options: { type: { type: 'string' }, description: { type: 'string' } },
  allowPositionals: true,
  async run(parsed) {
    if (parsed.positionals.length === 0) throw new UsageError('suppressions add needs an address');
    const type = parseSuppressionType(parsed.values.type as string | undefined);
    const description = parsed.values.description as string | undefined;
    const entries = suppressionInputs(parsed.positionals, type, description);
    await withStores(parsed.config(), (stores) => addSuppressions(stores.suppressions, entries));
    for (const r of entries) process.stdout.write(`suppressed ${r.recipient} (${r.type})\n`);
    return 0;
  },
};
