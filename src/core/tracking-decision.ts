/**
 * Whether a message gets open and click tracking, decided once for every door: the message's own
 * X-MSYS-API `options` first, then the API key's defaults, then the config (both off by default,
 * as SparkPost's SMTP injection). The same three inputs give the same answer at the SMTP door,
 * the milter and the HTTP API.
 */
import type { KeyDefaults } from '../store/types.js';
import type { MsysApi } from './smtpapi.js';

export interface TrackingDecision {
  open: boolean;
  click: boolean;
}

export interface TrackingDefaults {
  open: boolean;
  click: boolean;
}

export function decideTracking(
  msys: MsysApi,
  key: KeyDefaults | null | undefined,
  config: TrackingDefaults,
): TrackingDecision {
  const options = msys.options ?? {};
  return {
    open: options.open_tracking ?? key?.open_tracking ?? config.open,
    click: options.click_tracking ?? key?.click_tracking ?? config.click,
  };
}

/** `transactional` follows the same precedence; SparkPost's default is false. */
export function isTransactional(msys: MsysApi, key: KeyDefaults | null | undefined): boolean {
  return msys.options?.transactional ?? key?.transactional ?? false;
}

/**
 * The message's options with every default applied, so whatever reads the spooled facts later
 * (delivery's tracking rewrite, ip_pool selection, events) sees one settled answer and never
 * repeats the precedence: tracking flags always set, transactional and ip_pool from the key when
 * the header is silent.
 */
export function resolveMessageOptions(
  msys: MsysApi,
  key: KeyDefaults | null | undefined,
  config: TrackingDefaults,
): MsysApi {
  const tracking = decideTracking(msys, key, config);
  const options = { ...msys.options, open_tracking: tracking.open, click_tracking: tracking.click };
  if (options.transactional === undefined && key?.transactional !== undefined)
    options.transactional = key.transactional;
  if (options.ip_pool === undefined && key?.ip_pool !== undefined) options.ip_pool = key.ip_pool;
  return { ...msys, options };
}
