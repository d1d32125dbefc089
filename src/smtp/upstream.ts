/**
 * Stage-1 parity for a message an upstream Sluice milter already handled: it reaches this door
 * from a trusted MTA carrying X-Sluice-Message-ID, without its X-MSYS-API (the milter removed the
 * header after recording the message's `injection` event under that id). With a shared store the
 * event is here, and it carries what X-MSYS-API said that events repeat (core's
 * fromInjectionEvent reads them back), so the message is delivered and reported (delivery,
 * bounce... events) as if it had been injected here. This door part finds the event.
 * No such event (separate stores, pruned, or the store failing: logged, never refused) gives
 * null, and the message goes on with its own header section, as before.
 */
import type { SluiceEvent } from '../core/events.js';
import { fromInjectionEvent, type UpstreamInjection } from '../core/upstream-injection.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';

export async function upstreamInjection(
  events: Pick<EventStore, 'search'>,
  messageId: string,
  log: Logger,
): Promise<UpstreamInjection | null> {
  let found: SluiceEvent | undefined;
  try {
    [found] = await events.search({ messageId, types: ['injection'], limit: 1 });
  } catch (error) {
    log.warn(
      { err: error, message_id: messageId },
      'upstream injection lookup failed: its campaign is not known here',
    );
    return null;
  }
  return found ? fromInjectionEvent(found) : null;
}
