/**
 * `sluice sendmail`: the sendmail(1) interface, so what called /usr/sbin/sendmail keeps working
 * when Postfix goes (cron, PHP's mail(), mail(1), logwatch, scripts). It reads the message from
 * standard input and hands it to the local `sluice serve` over the pickup socket
 * (pickup/client.ts); it exits 0 only once serve has spooled and fsynced the message, 75
 * (EX_TEMPFAIL) when serve cannot take it now (not running, or a temporary refusal: nothing was
 * queued, try again), 65/77 for a permanent refusal, 64 for a usage error. -bp lists the queue,
 * -q flushes it (both through the admin socket: the sluice user and root), -bi does nothing
 * (Sluice has no aliases). Options: sendmail-args.ts. The pickup directory comes from
 * --pickup-dir, else from the configuration (--config / -C FILE, else the built-in defaults): a
 * wrapper installed as /usr/sbin/sendmail passes --pickup-dir, so local users need not read the
 * configuration file (it may hold secrets).
 */
import type { Config } from '../config/schema.js';
import { PickupError, submitLocally } from '../pickup/client.js';
import { pickupDir } from '../pickup/dir.js';
import { adminRequest } from './admin-client.js';
import type { Parsed } from './command.js';
import { messageFromInput, parseSendmailArgs } from './sendmail-args.js';

const EX_DATAERR = 65;
const EX_UNAVAILABLE = 69;
const EX_TEMPFAIL = 75;
const EX_NOPERM = 77;

export async function run(parsed: Parsed): Promise<number> {
  const args = parseSendmailArgs(parsed.positionals);
  // Loaded only when needed: the installed wrapper passes --pickup-dir, so a plain submission
  // reads no configuration (nor loads the YAML parser and the schema).
  let loaded: Config | undefined;
  const config = async (): Promise<Config> => {
    loaded ??= (await import('../config/load.js')).loadConfig({ file: args.config ?? undefined });
    return loaded;
  };
  if (args.mode === 'newaliases') {
    process.stderr.write(
      'sluice sendmail: Sluice delivers no local mail and has no aliases: nothing to do\n',
    );
    return 0;
  }
  if (args.mode === 'mailq') {
    const { run: queueList } = await import('./queue-list.js');
    const known = await config();
    return await queueList({ values: {}, positionals: [], config: () => known });
  }
  if (args.mode === 'flush') {
    const flushed = await adminRequest<{ flushed: number }>(
      await config(),
      'POST',
      '/v1/queue/flush',
      args.flush,
    );
    process.stdout.write(`flushed ${flushed.flushed} deferred deliveries\n`);
    return 0;
  }
  const dir = args.pickupDir ?? pickupDir(await config());
  if (!dir) {
    process.stderr.write('sluice sendmail: pickup.dir is null: local submission is turned off\n');
    return EX_UNAVAILABLE;
  }
  const input = messageFromInput(await readStdin(), args.ignoreDots);
  try {
    const id = await submitLocally(
      dir,
      { sender: args.sender, recipients: args.recipients, extract: args.extract, fullName: args.fullName },
      input,
    );
    if (args.verbose) process.stderr.write(`sluice sendmail: queued as ${id}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof PickupError)) throw error;
    process.stderr.write(`sluice sendmail: ${error.message}\n`);
    if (error.temporary) return EX_TEMPFAIL;
    return /\b5\.7\.\d+\b/.test(error.message) ? EX_NOPERM : EX_DATAERR;
  }
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
