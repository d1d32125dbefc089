/**
 * The sendmail(1) command line, as Postfix's sendmail reads it: getopt style (clustered flags
 * such as -ti, option arguments attached or separate, options end at the first recipient or
 * "--"), the options Postfix recognizes but ignores ignored the same way (-Am -Ac -B -bh -bH -G
 * -h -L -m -n -O -o7 -o8 -om -odb -odi -oem -oee and any other -oX, -qINTERVAL, -U, -X), the
 * modes: -bm (default: read a message), -bp (mailq), -bi/-I (newaliases), -q/-qIid/-qRsite
 * (flush). What Sluice cannot honour is refused by name: -bs (SMTP on stdin), -bd/-bl (daemon:
 * run `sluice serve`), -bv (address verification), -N/-R/-V/-XV (per-message DSN and VERP), -qS.
 * Two long options are Sluice's own: --config FILE (as -C) and --pickup-dir DIR. Pure.
 */
import { UsageError } from './command.js';

export interface SendmailArgs {
  mode: 'deliver' | 'mailq' | 'newaliases' | 'flush';
  flush: { id?: string; domain?: string };
  sender: string | null;
  fullName: string | null;
  extract: boolean;
  /** -i / -oi: a line with only "." does not end the message. */
  ignoreDots: boolean;
  verbose: boolean;
  recipients: string[];
  config: string | null;
  pickupDir: string | null;
}

/** Options that take an argument (attached, or the next word). */
const WITH_ARGUMENT = new Set(['A', 'B', 'C', 'F', 'L', 'N', 'O', 'R', 'V', 'X', 'b', 'f', 'h', 'o', 'r']);
/** Flags Postfix recognizes and ignores. */
const IGNORED_FLAGS = new Set(['G', 'm', 'n', 'U']);

export function parseSendmailArgs(argv: readonly string[]): SendmailArgs {
  const args: SendmailArgs = {
    mode: 'deliver',
    flush: {},
    sender: null,
    fullName: null,
    extract: false,
    ignoreDots: false,
    verbose: false,
    recipients: [],
    config: null,
    pickupDir: null,
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      i++;
      break;
    }
    if (word === '--config' || word === '--pickup-dir') {
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`${word} needs a value`);
      if (word === '--config') args.config = value;
      else args.pickupDir = value;
      continue;
    }
    if (!word.startsWith('-') || word === '-') break;
    for (let at = 1; at < word.length; at++) {
      const letter = word[at]!;
      if (letter === 'q') {
        queueRun(word.slice(at + 1), args);
        break;
      }
      if (WITH_ARGUMENT.has(letter)) {
        let value = word.slice(at + 1);
        if (value === '') {
          const next = argv[++i];
          if (next === undefined) throw new UsageError(`-${letter} needs a value`);
          value = next;
        }
        withArgument(letter, value, args);
        break;
      }
      if (letter === 't') args.extract = true;
      else if (letter === 'i') args.ignoreDots = true;
      else if (letter === 'v') args.verbose = true;
      else if (letter === 'I') args.mode = 'newaliases';
      else if (!IGNORED_FLAGS.has(letter)) throw new UsageError(`unknown option -${letter}`);
    }
  }
  args.recipients = argv.slice(i);
  if (args.mode === 'deliver' && !args.extract && args.recipients.length === 0)
    throw new UsageError('recipient addresses must be given on the command line or with -t');
  return args;
}

function withArgument(letter: string, value: string, args: SendmailArgs): void {
  switch (letter) {
    case 'b':
      mode(value, args);
      return;
    case 'C':
      args.config = value;
      return;
    case 'F':
      args.fullName = value;
      return;
    case 'f':
    case 'r':
      args.sender = value.replace(/^<(.*)>$/, '$1');
      return;
    case 'o':
      // -oi is the only -o option with an effect; -oA names an alias file, which Sluice has not.
      if (value === 'i') args.ignoreDots = true;
      return;
    case 'N':
    case 'R':
      throw new UsageError(`-${letter} (per-message DSN) is not supported: Sluice's bounces.dsn decides`);
    case 'V':
      throw new UsageError('-V (DSN envelope id) is not supported');
    case 'X':
      if (value.startsWith('V')) throw new UsageError('-XV (VERP) is not supported');
      return; // -X log_file: ignored, as Postfix
    default:
      return; // -A, -B, -L, -O, -h: ignored, as Postfix
  }
}

function mode(value: string, args: SendmailArgs): void {
  switch (value) {
    case 'm':
      args.mode = 'deliver';
      return;
    case 'p':
      args.mode = 'mailq';
      return;
    case 'i':
      args.mode = 'newaliases';
      return;
    case 'h':
    case 'H':
      return; // ignored, as Postfix
    case 's':
      throw new UsageError(
        '-bs (SMTP on standard input) is not supported: use -t -i, or SMTP to listen.smtp',
      );
    case 'd':
    case 'l':
      throw new UsageError('-bd/-bl (daemon mode) is not supported: run `sluice serve`');
    case 'v':
      throw new UsageError('-bv (address verification) is not supported');
    default:
      throw new UsageError(`unknown mode -b${value}`);
  }
}

function queueRun(value: string, args: SendmailArgs): void {
  if (value === '') {
    args.mode = 'flush';
  } else if (value.startsWith('I') && value.length > 1) {
    args.mode = 'flush';
    args.flush = { id: value.slice(1) };
  } else if (value.startsWith('R') && value.length > 1) {
    args.mode = 'flush';
    args.flush = { domain: value.slice(1) };
  } else if (value.startsWith('S')) {
    throw new UsageError('-qS (flush by sender) is not supported');
  } else if (!/^\d+[smhdw]?$/.test(value)) {
    throw new UsageError(`unknown queue option -q${value}`);
  }
  // -qINTERVAL: ignored, as Postfix (there is no queue runner to start).
}

/** The message as sendmail reads it: without -i, a line with only "." ends it. */
export function messageFromInput(input: Buffer, ignoreDots: boolean): Buffer {
  if (ignoreDots) return input;
  for (let at = 0; at < input.length; ) {
    const lf = input.indexOf(0x0a, at);
    const end = lf < 0 ? input.length : lf;
    const line = input.subarray(at, end > at && input[end - 1] === 0x0d ? end - 1 : end);
    if (line.length === 1 && line[0] === 0x2e) return input.subarray(0, at);
    if (lf < 0) break;
    at = lf + 1;
  }
  return input;
}
