/**
 * What every subcommand shares: its description, option parsing with the common `--config FILE`
 * and `-o key.path=value` (like `postfix -o`), and loading the configuration they name, so a CLI
 * command works on the same store as the server it sits next to.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Config, loadConfig } from '../config/index.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface Command {
  /** Words that select it, e.g. "keys create". */
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  allowPositionals?: boolean;
  /**
   * Arguments are the command's own syntax (sendmail's): not parsed here, handed over as
   * positionals; --help alone still shows the usage.
   */
  rawArgs?: boolean;
  run(parsed: Parsed): Promise<number>;
}

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  config(): Config;
}

export class UsageError extends Error {}

const COMMON: OptionSpec = {
  config: { type: 'string', short: 'c' },
  o: { type: 'string', short: 'o', multiple: true },
  help: { type: 'boolean', short: 'h' },
};

export function parseFor(command: Command, argv: string[]): Parsed {
  if (command.rawArgs) {
    const help = argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h');
    return { values: { help }, positionals: argv, config: () => loadConfig({}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...COMMON, ...command.options },
      allowPositionals: command.allowPositionals ?? false,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values = parsed.values as Parsed['values'];
  return {
    values,
    positionals: parsed.positionals,
    config: () =>
      loadConfig({ file: values.config as string | undefined, overrides: (values.o as string[]) ?? [] }),
  };
}

export const COMMON_USAGE = `common options:
  -c, --config FILE        configuration file (YAML); without it, built-in defaults
  -o key.path=value        override one option, e.g. -o data_dir=/srv/sluice (repeatable)
  -h, --help               this help`;

/** Strings from a repeatable option. */
export function list(value: unknown): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? (value as string[]) : [String(value)];
}
