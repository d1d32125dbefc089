/** `sluice config check FILE`: validate a configuration file and say what is wrong with it. */
import { loadConfig } from '../config/index.js';
import { type Command, UsageError } from './command.js';

export const configCheck: Command = {
  name: 'config check',
  summary: 'validate a configuration file',
  usage: 'sluice config check FILE [-o key.path=value ...]',
  options: {},
  allowPositionals: true,
  async run(parsed) {
    const file = parsed.positionals[0] ?? (parsed.values.config as string | undefined);
    if (!file) throw new UsageError('config check needs a FILE');
    loadConfig({ file, overrides: (parsed.values.o as string[]) ?? [] });
    process.stdout.write(`${file}: ok\n`);
    return 0;
  },
};
