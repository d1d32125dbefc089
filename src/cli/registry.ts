/**
 * Every `sluice` subcommand as metadata (name, summary, usage, options, help details) with a lazy
 * `load()` of its run function: the command line finds, describes and parses a command without
 * loading it, so `sluice --help` or a usage error costs no library, and running one command loads
 * only what that command needs. A new command is one entry here plus its file exporting `run`.
 */
import { EVENT_TYPES } from '../core/event-types.js';
import { GRANTS } from '../core/grants.js';
import type { CommandSpec, OptionSpec, Run } from './command.js';

const SERVICE_OPTIONS: OptionSpec = { pretty: { type: 'boolean' } };

const EVENT_FILTERS: OptionSpec = {
  type: { type: 'string', multiple: true },
  recipient: { type: 'string' },
  'message-id': { type: 'string' },
  campaign: { type: 'string' },
  from: { type: 'string' },
  'transmission-id': { type: 'string' },
  since: { type: 'string' },
  json: { type: 'boolean' },
};

const eventFiltersHelp = () =>
  [
    'filters (they narrow each other):',
    `  --type T[,T]            event types: ${EVENT_TYPES.join(', ')}`,
    '  --recipient ADDR        rcpt_to',
    '  --message-id ID         message_id',
    '  --campaign C            campaign_id',
    '  --from ADDR             the envelope sender (msg_from)',
    '  --transmission-id ID    transmission_id',
    '  --since T, --until T    an ISO time (2026-05-01T10:00:00Z) or a duration ago (30m, 2h, 7d)',
  ].join('\n');

const grantsHelp = () => `grants: ${GRANTS.join(', ')}`;

const BULK_DETAILS = [
  'targets:',
  '  ID...             these messages',
  '  ALL               every queued message (hold: every one not held; release: every held one)',
  '  --domain D        the messages with a recipient at domain D',
  '  --older-than AGE  the messages that arrived at least AGE ago (30m, 12h, 2d)',
  '  --domain and --older-than narrow each other, with or without ALL',
].join('\n');

/** hold, release, delete, bounce, requeue: IDs, or ALL narrowed by --domain and --older-than. */
function bulk(
  operation: 'hold' | 'release' | 'delete' | 'bounce' | 'requeue',
  summary: string,
  load: () => Promise<{ run: Run }>,
): CommandSpec {
  return {
    name: `queue ${operation}`,
    summary,
    usage: `sluice queue ${operation} ID... | ALL [--domain D] [--older-than AGE] | --domain D | --older-than AGE`,
    options: { domain: { type: 'string' }, 'older-than': { type: 'string' } },
    allowPositionals: true,
    details: () => BULK_DETAILS,
    load: async () => (await load()).run,
  };
}

export const COMMANDS: CommandSpec[] = [
  {
    name: 'serve',
    summary: 'run the MTA (SMTP listeners, spool, delivery)',
    usage: 'sluice serve [--config FILE] [-o key.path=value ...] [--pretty]',
    options: SERVICE_OPTIONS,
    service: true,
    load: async () => (await import('./serve.js')).run,
  },
  {
    name: 'auth',
    summary: 'run the Dovecot-protocol SASL service for Postfix (API keys as SMTP passwords)',
    usage: 'sluice auth [--config FILE] [-o key.path=value ...] [--pretty]',
    options: SERVICE_OPTIONS,
    service: true,
    load: async () => (await import('./auth.js')).run,
  },
  {
    name: 'policy',
    summary: 'run the Postfix policy service (API key grants, sending limits)',
    usage: 'sluice policy [--config FILE] [-o key.path=value ...] [--pretty]',
    options: SERVICE_OPTIONS,
    service: true,
    load: async () => (await import('./policy.js')).run,
  },
  {
    name: 'milter',
    summary: 'run the mail filter for Postfix and Sendmail (X-MSYS-API, tracking, message ids, events)',
    usage: 'sluice milter [--config FILE] [-o key.path=value ...] [--pretty]',
    options: SERVICE_OPTIONS,
    service: true,
    load: async () => (await import('./milter.js')).run,
  },
  {
    name: 'config check',
    summary: 'validate a configuration file',
    usage: 'sluice config check FILE [-o key.path=value ...]',
    options: {},
    allowPositionals: true,
    load: async () => (await import('./config-check.js')).run,
  },
  {
    name: 'config show',
    summary: 'print the effective configuration, or some options of it (postconf)',
    usage: 'sluice config show [-c FILE] [-o key.path=value ...] [-n] [NAME ...]',
    options: { n: { type: 'boolean', short: 'n' } },
    allowPositionals: true,
    details: () =>
      [
        'prints "option.path = value" lines, values as written (defaults as in config example)',
        '  -n        only the options the file or -o set (postconf -n)',
        '  NAME ...  these options, or every option of a section (listen, delivery, store.redis)',
      ].join('\n'),
    load: async () => (await import('./config-show.js')).run,
  },
  {
    name: 'config example',
    summary: 'print a configuration file documenting every option and its default',
    usage: 'sluice config example > sluice.yaml',
    options: {},
    details: () =>
      'the built-in defaults, whatever -c or -o say: "sluice config show" prints a configuration',
    load: async () => (await import('./config-example.js')).run,
  },
  {
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
    details: grantsHelp,
    load: async () => (await import('./keys-create.js')).run,
  },
  {
    name: 'keys list',
    summary: 'list API keys (never the keys themselves)',
    usage: 'sluice keys list [--json]',
    options: { json: { type: 'boolean' } },
    load: async () => (await import('./keys-list.js')).run,
  },
  {
    name: 'keys update',
    summary: 'change the label, grants or valid IPs of a key',
    usage:
      'sluice keys update ID [--label L] [--grant G ...] [--valid-ip CIDR ... | --any-ip] [--default NAME=VALUE ... | --no-defaults]',
    options: {
      label: { type: 'string' },
      grant: { type: 'string', multiple: true },
      'valid-ip': { type: 'string', multiple: true },
      'any-ip': { type: 'boolean' },
      default: { type: 'string', multiple: true },
      'no-defaults': { type: 'boolean' },
    },
    allowPositionals: true,
    details: grantsHelp,
    load: async () => (await import('./keys-update.js')).run,
  },
  {
    name: 'keys delete',
    summary: 'delete (revoke) an API key',
    usage: 'sluice keys delete ID',
    options: {},
    allowPositionals: true,
    load: async () => (await import('./keys-delete.js')).run,
  },
  {
    name: 'events tail',
    summary: 'follow events as they happen',
    usage:
      'sluice events tail [-n N] [--type T[,T]] [--recipient ADDR] [--message-id ID] [--campaign C] [--from ADDR] [--transmission-id ID] [--json] [--no-follow]',
    options: { ...EVENT_FILTERS, lines: { type: 'string', short: 'n' }, 'no-follow': { type: 'boolean' } },
    details: eventFiltersHelp,
    load: async () => (await import('./events-tail.js')).run,
  },
  {
    name: 'events search',
    summary: 'search recorded events, newest first',
    usage:
      'sluice events search [--type T[,T]] [--recipient ADDR] [--message-id ID] [--campaign C] [--from ADDR] [--transmission-id ID] [--since T] [--until T] [--limit N (default 100)] [--json]',
    options: { ...EVENT_FILTERS, until: { type: 'string' }, limit: { type: 'string' } },
    details: () => `${eventFiltersHelp()}\n--json prints one JSON array of events ([] when none match)`,
    load: async () => (await import('./events-search.js')).run,
  },
  {
    name: 'store migrate',
    summary:
      'copy API keys, suppressions, templates, recipient lists and scheduled transmissions between store backends (embedded -> redis)',
    usage: 'sluice store migrate --from embedded --to redis [--json]',
    options: { from: { type: 'string' }, to: { type: 'string' }, json: { type: 'boolean' } },
    load: async () => (await import('./store-migrate.js')).run,
  },
  {
    name: 'suppressions list',
    summary: 'list suppressed recipients (newest first)',
    usage:
      'sluice suppressions list [--type T] [--source S ...] [--search TEXT] [--limit N] [--cursor C] [--json]',
    options: {
      type: { type: 'string' },
      source: { type: 'string', multiple: true },
      search: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      json: { type: 'boolean' },
    },
    load: async () => (await import('./suppressions-list.js')).run,
  },
  {
    name: 'suppressions add',
    summary: 'add recipients to the suppression list',
    usage: 'sluice suppressions add ADDRESS... [--type transactional|non_transactional] [--description TEXT]',
    options: { type: { type: 'string' }, description: { type: 'string' } },
    allowPositionals: true,
    load: async () => (await import('./suppressions-add.js')).run,
  },
  {
    name: 'suppressions remove',
    summary: 'remove a recipient from the suppression list',
    usage: 'sluice suppressions remove ADDRESS [--type transactional|non_transactional]',
    options: { type: { type: 'string' } },
    allowPositionals: true,
    load: async () => (await import('./suppressions-remove.js')).run,
  },
  {
    name: 'queue summary',
    summary: 'queued messages by domain: count, oldest, last error',
    usage: 'sluice queue summary [--json]',
    options: { json: { type: 'boolean' } },
    load: async () => (await import('./queue-summary.js')).run,
  },
  {
    name: 'queue list',
    summary: 'list queued messages',
    usage: 'sluice queue list [--domain D] [--limit N (default 1000) | --all] [--json]',
    options: {
      domain: { type: 'string' },
      limit: { type: 'string' },
      all: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    load: async () => (await import('./queue-list.js')).run,
  },
  {
    name: 'queue show',
    summary: 'show one queued message: its recipients and their state, or its headers or body',
    usage: 'sluice queue show ID [--json | --headers | --body | --raw]',
    options: {
      json: { type: 'boolean' },
      headers: { type: 'boolean' },
      body: { type: 'boolean' },
      raw: { type: 'boolean' },
    },
    details: () =>
      [
        'without options: sender, size, arrival, hold, and each recipient with its state, attempts,',
        '  next attempt and last deferral reason (from the running server, else read from the spool)',
        '--headers   the message header section as spooled (postcat -h)',
        '--body      the message body (postcat -b)',
        '--raw       the whole message, bytes as spooled (postcat -q)',
      ].join('\n'),
    allowPositionals: true,
    load: async () => (await import('./queue-show.js')).run,
  },
  {
    name: 'queue flush',
    summary: 'attempt deferred messages now (all, one ID, or one domain)',
    usage: 'sluice queue flush [ID | --domain D]',
    options: { domain: { type: 'string' } },
    allowPositionals: true,
    load: async () => (await import('./queue-flush.js')).run,
  },
  bulk(
    'hold',
    'put messages on hold (kept, not delivered, across restarts)',
    () => import('./queue-hold.js'),
  ),
  bulk('release', 'release held messages', () => import('./queue-release.js')),
  bulk(
    'delete',
    'delete queued messages (no DSN; a bounce event of class 25 records it)',
    () => import('./queue-delete.js'),
  ),
  bulk(
    'bounce',
    'bounce queued messages now (bounce events, DSN to the sender)',
    () => import('./queue-bounce.js'),
  ),
  bulk(
    'requeue',
    'start queued messages over: routed afresh, attempts reset, hold lifted (postsuper -r)',
    () => import('./queue-requeue.js'),
  ),
  {
    name: 'sendmail',
    summary: 'sendmail(1)-compatible injector: hand a message on stdin to the local sluice serve',
    usage:
      'sluice sendmail [--pickup-dir DIR] [--config FILE] [-t] [-i] [-f sender] [-F name] [sendmail options] [recipient ...]',
    options: {},
    rawArgs: true,
    load: async () => (await import('./sendmail.js')).run,
  },
];

/** The command named by the first words of argv, and the rest of argv. */
export function findCommand(argv: string[]): { command: CommandSpec; rest: string[] } | null {
  for (const command of COMMANDS) {
    const words = command.name.split(' ');
    if (words.every((w, i) => argv[i] === w)) return { command, rest: argv.slice(words.length) };
  }
  return null;
}

/** The commands whose name starts with these words ("keys" gives keys create, list, ...). */
export function commandGroup(words: string[]): CommandSpec[] {
  if (words.length === 0) return [];
  return COMMANDS.filter((c) => {
    const name = c.name.split(' ');
    return name.length > words.length && words.every((w, i) => name[i] === w);
  });
}
