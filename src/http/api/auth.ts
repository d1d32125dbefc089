/**
 * Who is calling the API: the key from `Authorization: KEY` (SparkPost's form), `Bearer KEY`, or
 * HTTP Basic with the key as user name. core's KeyService decides (hash lookup, grant, valid_ips);
 * this file only maps its answer to 401 (no or unknown key) and 403 (grant or address refused,
 * the description naming the grant the request needs and the key's grants, or the address),
 * and applies the per-key request rate (429 with Retry-After).
 */
import type { Grant } from '../../core/grants.js';
import type { KeyService } from '../../core/keys.js';
import { unmapIPv4 } from '../../core/networks.js';
import type { RequestRate } from '../../core/request-rate.js';
import type { ApiKeyRecord } from '../../store/types.js';
import { ApiError, forbidden, unauthorized } from './errors.js';

/** The key secret a request presents, or null. Never logged. */
export function presentedKey(header: string | undefined): string | null {
  if (!header) return null;
  const value = header.trim();
  const space = value.indexOf(' ');
  const scheme = space === -1 ? '' : value.slice(0, space).toLowerCase();
  if (scheme === 'basic') {
    let decoded: string;
    try {
      decoded = Buffer.from(value.slice(space + 1).trim(), 'base64').toString('utf8');
    } catch {
      return null;
    }
    const colon = decoded.indexOf(':');
    const user = colon === -1 ? decoded : decoded.slice(0, colon);
    // SparkPost takes the key as user name; some clients put it in the password instead.
    return user || (colon === -1 ? null : decoded.slice(colon + 1)) || null;
  }
  if (scheme === 'bearer') return value.slice(space + 1).trim() || null;
  return value || null;
}

export async function authorize(
  keys: KeyService,
  rate: RequestRate,
  header: string | undefined,
  clientIp: string,
  grant: Grant | null,
): Promise<ApiKeyRecord> {
  const secret = presentedKey(header);
  if (!secret) throw unauthorized();
  const result = await keys.authenticate(secret, unmapIPv4(clientIp), grant);
  if (!result.ok) {
    if (result.reason === 'grant')
      throw forbidden(
        `this request needs an API key with the grant ${grant}; key ${result.keyId} has ${result.grants?.join(', ') || 'no grants'}`,
      );
    if (result.reason === 'ip')
      throw forbidden(
        `key ${result.keyId} may not be used from ${unmapIPv4(clientIp)} (not in its valid_ips)`,
      );
    throw unauthorized();
  }
  const outcome = rate.take(result.key.id);
  if (!outcome.ok) {
    const seconds = Math.max(1, Math.ceil(outcome.retryAfterMs / 1000));
    throw new ApiError(
      429,
      {
        message: 'Too many requests',
        code: '1102',
        description: `rate limit exceeded; retry in ${seconds} s`,
      },
      { 'retry-after': String(seconds) },
    );
  }
  return result.key;
}
