/**
 * What an upstream Sluice milter's `injection` event says about a message, as X-MSYS-API would
 * have said it: the milter removed the header after recording the event, so a downstream door
 * (stage 1) rebuilds from it the values events repeat — campaign_id, metadata, tags,
 * transactional, ip_pool — and the API key. The inverse of how injection events record them.
 */
import type { SluiceEvent } from './events.js';
import type { MsysApi } from './smtpapi.js';

export interface UpstreamInjection {
  msys: MsysApi;
  apiKeyId: string | null;
}

export function fromInjectionEvent(found: SluiceEvent): UpstreamInjection {
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
