/**
 * SparkPost's SMTP injection convention, the one rule every door that takes SMTP credentials
 * shares: the user name is `SMTP_Injection` and the password is an API key holding `smtp/inject`,
 * used from one of its valid_ips. A PLAIN authorization identity (RFC 4616 authzid) may only be
 * empty or the user name itself: acting for someone else is not a thing API keys do (Dovecot
 * too refuses an authzid other than the user unless the user is a master user). Doors (the SMTP
 * listener's AUTH, `sluice auth` for Postfix) ask here, so they cannot disagree about who may inject.
 */
import type { AuthResult, KeyService } from './keys.js';

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
