/**
 * Acceptance: the one hand-off from any receiving door to the engine. Commits the spool file
 * (the durability point), records an `injection` event per recipient and queues the message.
 * Only after this returns may a door say yes (250 on SMTP, 200 on HTTP).
 */
import { injectionEvent } from '../core/events.js';
import type { EventStore } from '../store/types.js';
import type { QueueManager } from './manager.js';
import type { SpoolWriter } from './spool.js';
import type { SpoolEnvelope } from './spool-format.js';

export async function acceptMessage(
  writer: SpoolWriter,
  envelope: SpoolEnvelope,
  deps: { events: EventStore; queue: Pick<QueueManager, 'add'> },
): Promise<void> {
  const { messageLength, body } = await writer.commit(envelope);
  const now = new Date();
  // A message from an upstream Sluice milter had its injection recorded there.
  if (!envelope.upstream)
    deps.events.appendMany(envelope.rcpts.map((rcpt) => injectionEvent(envelope.facts, rcpt, now)));
  deps.queue.add({ id: writer.id, envelope, messageLength, done: new Set(), body });
}
