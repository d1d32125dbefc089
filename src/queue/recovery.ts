/**
 * Start-up recovery of the spool for the queue manager: every complete message left by an earlier
 * run is handed back to the queue (held ones stay held), after recording the injection events a
 * crash may have kept from being written. A spool file is complete once its footer is written,
 * before the fsync that precedes the 250 and the injection events: a crash in between leaves a
 * message that will be delivered but was never recorded as injected, so every delivery event
 * still gets its injection event.
 */
import { injectionEvent } from '../core/events.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';
import type { Spool, SpooledMessage } from './spool.js';

export async function recoverSpool(
  spool: Spool,
  events: EventStore,
  log: Logger,
  add: (message: SpooledMessage, held: boolean) => void,
): Promise<number> {
  return await spool.loadEach(
    (file, why) => log.warn({ file }, `spool file ${why}`),
    async (message) => {
      await recordMissingInjection(message, events, log);
      add(message, message.held === true);
    },
  );
}

async function recordMissingInjection(
  message: SpooledMessage,
  events: EventStore,
  log: Logger,
): Promise<void> {
  const { rcpts, facts } = message.envelope;
  if (message.envelope.upstream) return;
  const recorded = await events.search({
    messageId: facts.message_id,
    types: ['injection'],
    limit: rcpts.length + 100,
  });
  const seen = new Set(recorded.map((event) => event.rcpt_to));
  const missing = rcpts.filter((rcpt) => !seen.has(rcpt.toLowerCase()));
  if (missing.length === 0) return;
  const now = new Date();
  for (const rcpt of missing) events.append(injectionEvent(facts, rcpt, now));
  log.info(
    { message_id: facts.message_id, queue_id: message.id, rcpts: missing.length },
    'recorded the injection of a message spooled without its 250 being sent',
  );
}
