/**
 * The `sluice` command line: picks the subcommand from the registry, parses its options, loads
 * and runs it, and turns configuration and usage errors into a clear message and a non-zero exit
 * status. Help (`sluice --help`, `sluice help keys`, `sluice keys --help`, `sluice queue show
 * --help`) comes from the registry's metadata alone, without loading any command.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, OptionError } from '../config/errors.js';
import { SuppressionInputError } from '../core/suppressions-admin.js';
import { COMMON_USAGE, type CommandSpec, type ConfigLoader, list, parseFor, UsageError } from './command.js';
import { AdminError } from './errors.js';
import { COMMANDS, commandGroup, findCommand } from './registry.js';

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'sluice: a mail transfer agent for application email',
    '',
    'usage: sluice COMMAND [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    COMMON_USAGE,
    '',
    'Run "sluice COMMAND --help" or "sluice help COMMAND" for the options of one command,',
    '"sluice help keys" (or queue, events, ...) for a group of commands.',
  ].join('\n');
}

function commandHelp(command: CommandSpec): string {
  const details = command.details ? `\n${command.details()}\n` : '';
  return `usage: ${command.usage}\n\n${command.summary}\n${details}\n${COMMON_USAGE}`;
}

function groupHelp(group: string, commands: CommandSpec[]): string {
  return [
    `sluice ${group}: ${commands.map((c) => c.name.slice(group.length + 1)).join(', ')}`,
    '',
    ...commands.flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    '',
    `Run "sluice ${group} COMMAND --help" for the details of one command.`,
  ].join('\n');
}

/** Help on the named words: one command, a group, or (unknown words) null. */
function helpOn(words: string[]): string | null {
  if (words.length === 0) return overview();
  const found = findCommand(words);
  if (found && found.rest.length === 0) return commandHelp(found.command);
  const group = commandGroup(words);
  return group.length > 0 ? groupHelp(words.join(' '), group) : null;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0) {
    process.stderr.write(`${overview()}\n`);
    return 2;
  }
  if (argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    const text = helpOn(argv.slice(1));
    if (text === null) {
      process.stderr.write(`sluice help: no command "${argv.slice(1).join(' ')}"\n\n${overview()}\n`);
      return 64;
    }
    process.stdout.write(`${text}\n`);
    return 0;
  }
  if (argv[0] === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(`sluice ${pkg.version}\n`);
    return 0;
  }
  const found = findCommand(argv);
  if (!found) return unknownCommand(argv);
  const { command, rest } = found;
  try {
    const parsed = parseFor(command, rest);
    if (parsed.values.help) {
      process.stdout.write(`${commandHelp(command)}\n`);
      return 0;
    }
    const [run, loader] = await Promise.all([command.load(), configLoader(command, parsed.values)]);
    return await run(parsed.withLoader(loader));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sluice: ${error.message}\n`);
      return 78; // EX_CONFIG
    }
    if (error instanceof OptionError) {
      process.stderr.write(`sluice ${command.name}: ${error.message}\n`);
      return 78; // EX_CONFIG: the option needs changing
    }
    if (error instanceof AdminError) {
      process.stderr.write(`sluice ${command.name}: ${error.message}\n`);
      return error.unavailable ? 69 : 1; // EX_UNAVAILABLE
    }
    if (error instanceof UsageError || error instanceof SuppressionInputError) {
      process.stderr.write(`sluice ${command.name}: ${error.message}\nusage: ${command.usage}\n`);
      return 64; // EX_USAGE
    }
    process.stderr.write(`sluice ${command.name}: ${(error as Error).message}\n`);
    return 1;
  }
}

/**
 * How the command will read its configuration: a one-shot command takes a configuration validated
 * before from the cache (it spares loading the YAML parser and the schema), else validates it and
 * keeps it there; a service always validates.
 */
async function configLoader(command: CommandSpec, values: Record<string, unknown>): Promise<ConfigLoader> {
  if (command.rawArgs)
    return () => {
      throw new Error(`sluice ${command.name} reads its configuration from its own arguments`);
    };
  if (!command.service) {
    const { lookupConfig } = await import('../config/cache.js');
    const cached = lookupConfig({ file: values.config as string | undefined, overrides: list(values.o) });
    const hit = cached.hit;
    if (hit) return () => hit;
    const { loadConfig } = await import('../config/load.js');
    return (source) => {
      const config = loadConfig(source);
      cached.store(config);
      return config;
    };
  }
  return (await import('../config/load.js')).loadConfig;
}

/**
 * `sluice keys --help` and `sluice keys` show the group's help; anything else unknown says so
 * and shows the closest help there is (the group's, else the overview).
 */
function unknownCommand(argv: string[]): number {
  const words = argv.filter((a) => !a.startsWith('-'));
  const asked = argv.includes('--help') || argv.includes('-h');
  for (let n = words.length; n > 0; n--) {
    const group = commandGroup(words.slice(0, n));
    if (group.length === 0) continue;
    const text = groupHelp(words.slice(0, n).join(' '), group);
    if (asked && n === words.length) {
      process.stdout.write(`${text}\n`);
      return 0;
    }
    const what =
      n === words.length
        ? `sluice ${words.join(' ')}: which one?`
        : `sluice: unknown command "${argv.join(' ')}"`;
    process.stderr.write(`${what}\n\n${text}\n`);
    return 64;
  }
  process.stderr.write(`sluice: unknown command "${argv.join(' ')}"\n\n${overview()}\n`);
  return 64;
}

// A reader that goes away (`sluice events search | head`) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
