/**
 * What every subcommand shares: its description (name, summary, usage, options: the registry's
 * metadata, readable without loading the command), option parsing with the common `--config FILE`
 * and `-o key.path=value` (like `postfix -o`), and loading the configuration they name, so a CLI
 * command works on the same store as the server it sits next to. Nothing heavy is imported here:
 * `sluice --help` loads this file and the registry only.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { Config } from '../config/schema.js';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What a command does, loaded only when the command runs. */
export type Run = (parsed: Parsed) => Promise<number>;

export interface CommandSpec {
  /** Words that select it, e.g. "keys create". */
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  allowPositionals?: boolean;
  /**
   * A long-running service: validates its configuration file itself every start, where a one-shot
   * command may take it from the cache of validated configurations (config/cache.ts).
   */
  service?: boolean;
  /**
   * Arguments are the command's own syntax (sendmail's): not parsed here, handed over as
   * positionals; --help alone still shows the usage.
   */
  rawArgs?: boolean;
  /** More help after the usage line (valid values, what the targets are). */
  details?: () => string;
  /** The command's run function, with the libraries it needs. */
  load(): Promise<Run>;
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

export type ConfigLoader = (options: { file?: string | undefined; overrides?: string[] }) => Config;

export function parseFor(
  command: Pick<CommandSpec, 'options' | 'allowPositionals' | 'rawArgs'>,
  argv: string[],
) {
  if (command.rawArgs) {
    const values = { help: argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h') };
    return {
      values,
      positionals: argv,
      // Such a command finds its configuration in its own arguments (sendmail's -C).
      withLoader: (load: ConfigLoader): Parsed => ({ values, positionals: argv, config: () => load({}) }),
    };
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
    /** The configuration the options name, with the loader the caller imported when it was needed. */
    withLoader(load: ConfigLoader): Parsed {
      return {
        values,
        positionals: parsed.positionals,
        config: () =>
          load({ file: values.config as string | undefined, overrides: (values.o as string[]) ?? [] }),
      };
    },
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
