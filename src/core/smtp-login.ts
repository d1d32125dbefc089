/**
 * SparkPost's SMTP injection convention, the one rule every door that takes SMTP credentials
 * shares: the user name is `SMTP_Injection` and the password is an API key holding `smtp/inject`,
 * used from one of its valid_ips. Doors (the SMTP listener's AUTH, `sluice auth` for Postfix) ask
 * here, so they cannot disagree about who may inject.
 */
import type { AuthResult, KeyService } from './keys.js';

export const SMTP_USERNAME = 'SMTP_Injection';

export type SmtpLoginResult = AuthResult | { ok: false; reason: 'user' };

export async function checkSmtpLogin(
  keys: KeyService,
  username: string,
  password: string,
  clientIp: string,
): Promise<SmtpLoginResult> {
  if (username !== SMTP_USERNAME) return { ok: false, reason: 'user' };
  return await keys.authenticate(password, clientIp, 'smtp/inject');
}
