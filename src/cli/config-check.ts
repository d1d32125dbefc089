/** `sluice config check FILE`: validate a configuration file and say what is wrong with it. */
import { loadConfig } from '../config/index.js';
import { type Parsed, UsageError } from './command.js';

export async function run(parsed: Parsed): Promise<number> {
  const file = parsed.positionals[0] ?? (parsed.values.config as string | undefined);
  if (!file) throw new UsageError('config check needs a FILE');
  loadConfig({ file, overrides: (parsed.values.o as string[]) ?? [] });
  process.stdout.write(`${file}: ok\n`);
  return 0;
}
