/**
 * The `sluice` command line: picks the subcommand, parses its options, runs it, and turns
 * configuration and usage errors into a clear message and a non-zero exit status.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/index.js';
import { SuppressionInputError } from '../core/suppressions-admin.js';
import { AdminError } from './admin-client.js';
import { auth } from './auth.js';
import { COMMON_USAGE, type Command, parseFor, UsageError } from './command.js';
import { configCheck } from './config-check.js';
import { configExample } from './config-example.js';
import { eventsSearch } from './events-search.js';
import { eventsTail } from './events-tail.js';
import { keysCreate } from './keys-create.js';
import { keysDelete } from './keys-delete.js';
import { keysList } from './keys-list.js';
import { keysUpdate } from './keys-update.js';
import { milter } from './milter.js';
import { policy } from './policy.js';
import { queueBounce } from './queue-bounce.js';
import { queueDelete } from './queue-delete.js';
import { queueFlush } from './queue-flush.js';
import { queueHold } from './queue-hold.js';
import { queueList } from './queue-list.js';
import { queueRelease } from './queue-release.js';
import { queueShow } from './queue-show.js';
import { queueSummary } from './queue-summary.js';
import { sendmail } from './sendmail.js';
import { serve } from './serve.js';
import { storeMigrate } from './store-migrate.js';
import { suppressionsAdd } from './suppressions-add.js';
import { suppressionsList } from './suppressions-list.js';
import { suppressionsRemove } from './suppressions-remove.js';

const COMMANDS: Command[] = [
  serve,
  auth,
  policy,
  milter,
  configCheck,
  configExample,
  keysCreate,
  keysList,
  keysUpdate,
  keysDelete,
  eventsTail,
  eventsSearch,
  storeMigrate,
  suppressionsList,
  suppressionsAdd,
  suppressionsRemove,
  queueSummary,
  queueList,
  queueShow,
  queueFlush,
  queueHold,
  queueRelease,
  queueDelete,
  queueBounce,
  sendmail,
];

function help(): string {
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
    'Run "sluice COMMAND --help" for the options of one command.',
  ].join('\n');
}

function find(argv: string[]): { command: Command; rest: string[] } | null {
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(words.length) };
  }
  return null;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${help()}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version') {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(`sluice ${pkg.version}\n`);
    return 0;
  }
  const found = find(argv);
  if (!found) {
    process.stderr.write(`sluice: unknown command "${argv.join(' ')}"\n\n${help()}\n`);
    return 2;
  }
  const { command, rest } = found;
  try {
    const parsed = parseFor(command, rest);
    if (parsed.values.help) {
      process.stdout.write(`usage: ${command.usage}\n\n${command.summary}\n\n${COMMON_USAGE}\n`);
      return 0;
    }
    return await command.run(parsed);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`sluice: ${error.message}\n`);
      return 78; // EX_CONFIG
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

// A reader that goes away (`sluice events search | head`) is not an error of ours.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

process.exitCode = await main(process.argv.slice(2));
