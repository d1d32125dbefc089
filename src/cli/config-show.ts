/**
 * `sluice config show [-n] [NAME...]`: the effective configuration, like postconf: every option,
 * only those the file or -o set (-n), or the named options and sections. The file is validated
 * first: a bad one is reported as by `config check`, never shown half-valid.
 */
import { loadRaw, validateConfig } from '../config/load.js';
import { showConfig, UnknownOptionError } from '../config/show.js';
import { type Parsed, UsageError } from './command.js';

export async function run(parsed: Parsed): Promise<number> {
  const file = parsed.values.config as string | undefined;
  const raw = loadRaw({ file, overrides: (parsed.values.o as string[]) ?? [] });
  const config = validateConfig(raw, file ?? '(defaults)');
  let lines: string[];
  try {
    lines = showConfig(raw, config, { nonDefault: parsed.values.n === true, names: parsed.positionals });
  } catch (error) {
    if (error instanceof UnknownOptionError) throw new UsageError(error.message);
    throw error;
  }
  process.stdout.write(lines.length > 0 ? `${lines.join('\n')}\n` : '');
  return 0;
}
