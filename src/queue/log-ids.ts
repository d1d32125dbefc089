/**
 * The log fields that name a queued message: `message_id` is always the message's id (the one in
 * its 250 reply and its events); `queue_id`, the spool's, is added where it differs (a message an
 * upstream milter named), so a line in Postfix's manner is not made longer for nothing.
 */
import type { Entry } from './queue-entries.js';
import type { SpooledMessage } from './spool.js';

export type LogIds = { message_id: string; queue_id?: string };

export function idsOf(message: SpooledMessage): LogIds {
  return logIds(message.envelope.facts.message_id, message.id);
}

export function entryIds(entry: Entry): LogIds {
  return logIds(entry.messageId ?? entry.id, entry.id);
}

function logIds(messageId: string, queueId: string): LogIds {
  return messageId === queueId ? { message_id: messageId } : { message_id: messageId, queue_id: queueId };
}
