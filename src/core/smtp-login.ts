/**
 * SparkPost's SMTP injection convention, the one rule every door that takes SMTP credentials
 * shares: the user name is `SMTP_Injection` and the password is an API key holding `smtp/inject`,
 * used from one of its valid_ips. A PLAIN authorization identity (RFC 4616 authzid) may only be
 * empty or the user name itself: acting for someone else is not a thing API keys do (Dovecot
 * too refuses an authzid other than the user unless the user is a master user). Doors (the SMTP
 * listener's AUTH, `sluice auth` for Postfix) ask here, so they cannot disagree about who may inject.
 * A key that authenticated a session is asked about again at each MAIL (keyStillInjects): one
 * deleted, stripped of smtp/inject or no longer valid from the client's address since is refused
 * with injectionRefused, the reply the milter gives at MAIL for the same key in Postfix (stage 0).
 */
import type { ApiKeyRecord } from '../store/types.js';
import type { AuthResult, KeyService } from './keys.js';
import { NetworkSet } from './networks.js';
import { Rejection } from './reply.js';

export const SMTP_USERNAME = 'SMTP_Injection';

export type SmtpLoginResult = AuthResult | { ok: false; reason: 'user' | 'authzid' };

/**
 * `username` is the authentication identity (PLAIN's authcid, LOGIN's user name); `authzid` is
 * PLAIN's authorization identity, '' when the client sent none (and for LOGIN).
 */
export async function checkSmtpLogin(
  keys: KeyService,
  username: string,
  password: string,
  clientIp: string,
  authzid = '',
): Promise<SmtpLoginResult> {
  if (authzid !== '' && authzid !== username) return { ok: false, reason: 'authzid' };
  if (username !== SMTP_USERNAME) return { ok: false, reason: 'user' };
  return await keys.authenticate(password, clientIp, 'smtp/inject');
}

export type KeyRefusal = 'unknown' | 'grant' | 'ip';

/** Why a key (null: not found) may not inject from this client now; null when it may. */
export function keyStillInjects(key: ApiKeyRecord | null, clientIp: string | null): KeyRefusal | null {
  if (!key) return 'unknown';
  if (!key.grants.includes('smtp/inject')) return 'grant';
  if (key.valid_ips.length > 0 && (!clientIp || !new NetworkSet(key.valid_ips).has(clientIp))) return 'ip';
  return null;
}

/**
 * Mail from a key that may not inject. Permanent: the key will not come back by retrying. RFC
 * 4954's 530 would ask the client to authenticate again; the key it has cannot.
 */
export const injectionRefused = (): Rejection =>
  new Rejection(550, '5.7.1', 'API key is not allowed to send mail');
