/**
 * Acceptance: the one hand-off from any receiving door to the engine. Commits the spool file
 * (the durability point), records an `injection` event per recipient and queues the message.
 * Only after this returns may a door say yes (250 on SMTP, 200 on HTTP). The injection events go
 * through the queue's group commit: messages accepted in the same turn of the event loop share one
 * transaction (with the delivery outcomes of that turn), and this returns once it is written.
 */
import { injectionEvent } from '../core/events.js';
import type { QueueManager } from './manager.js';
import type { SpoolWriter } from './spool.js';
import type { SpoolEnvelope } from './spool-format.js';

export async function acceptMessage(
  writer: SpoolWriter,
  envelope: SpoolEnvelope,
  deps: { queue: Pick<QueueManager, 'add' | 'recordEvents'> },
): Promise<void> {
  const { messageLength, body } = await writer.commit(envelope);
  const now = new Date();
  // A message from an upstream Sluice milter had its injection recorded there.
  if (!envelope.upstream)
    await deps.queue.recordEvents(envelope.rcpts.map((rcpt) => injectionEvent(envelope.facts, rcpt, now)));
  deps.queue.add({ id: writer.id, envelope, messageLength, done: new Set(), body });
}
