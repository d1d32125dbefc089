/**
 * Stage-1 parity for a message an upstream Sluice milter already handled: it reaches this door
 * from a trusted MTA carrying X-Sluice-Message-ID, without its X-MSYS-API (the milter removed the
 * header after recording the message's `injection` event under that id). With a shared store the
 * event is here, and it carries what X-MSYS-API said that events repeat: campaign_id, metadata,
 * tags, transactional and ip_pool, and the API key. upstreamInjection() gives them back, so the
 * message is delivered and reported (delivery, bounce... events) as if it had been injected here.
 * No such event (separate stores, pruned, or the store failing: logged, never refused) gives
 * null, and the message goes on with its own header section, as before.
 */
import type { SluiceEvent } from '../core/events.js';
import type { MsysApi } from '../core/smtpapi.js';
import type { Logger } from '../log.js';
import type { EventStore } from '../store/types.js';

export interface UpstreamInjection {
  msys: MsysApi;
  apiKeyId: string | null;
}

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
  if (!found) return null;
  const msys: MsysApi = {};
  if (typeof found.campaign_id === 'string' && found.campaign_id !== '') msys.campaign_id = found.campaign_id;
  if (isRecord(found.rcpt_meta) && Object.keys(found.rcpt_meta).length > 0) msys.metadata = found.rcpt_meta;
  if (Array.isArray(found.rcpt_tags) && found.rcpt_tags.length > 0)
    msys.tags = found.rcpt_tags.filter((t): t is string => typeof t === 'string');
  const options: NonNullable<MsysApi['options']> = {};
  if (found.transactional === '1') options.transactional = true;
  if (typeof found.ip_pool === 'string' && found.ip_pool !== 'default') options.ip_pool = found.ip_pool;
  if (Object.keys(options).length > 0) msys.options = options;
  return { msys, apiKeyId: typeof found.api_key_id === 'string' ? found.api_key_id : null };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
