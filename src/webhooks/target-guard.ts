/**
 * Where webhook batches may go. A key holding `webhooks/modify` chooses the target URL, so without
 * a guard it could make Sluice POST to its own loopback services, the internal network or the
 * host itself (SSRF), and read their answers. By default a target whose host is, or resolves to,
 * an address that is not ordinary global unicast (core/special-addresses.ts: loopback, private,
 * link-local, shared, benchmarking, documentation, multicast, reserved, NAT64, 6to4, Teredo, …;
 * IPv4-mapped forms as their IPv4 address) or any address of this host's own interfaces is
 * refused. `webhooks.allow_private_targets` lifts the address check for operators whose receivers
 * live inside. Checked before every POST, not only at creation, so a name that later resolves
 * inside is caught too; post.ts checks again inside the connection's own lookup, which closes
 * the window between this check and the connect (DNS rebinding).
 */
import { lookup as systemLookup } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import { addressValue } from '../core/address-ranges.js';
import { specialPurpose } from '../core/special-addresses.js';

export interface TargetPolicy {
  allowPrivateTargets: boolean;
  /** Name resolution; the system resolver unless a test serves its own answers. */
  resolve?: LookupFunction | undefined;
  /** This host's addresses; os.networkInterfaces() unless a test names others. */
  localAddresses?: (() => readonly string[]) | undefined;
}

/**
 * Why a target may not be posted to. `address`: the policy refused where it points (the API may
 * say so); `unresolved`: its name has no address (the API says no more than for an unreachable
 * target, so names cannot be probed); `url`: not an http(s) URL.
 */
export interface Refusal {
  kind: 'url' | 'address' | 'unresolved';
  /** For logs: names the address and why. */
  detail: string;
}

export const PRIVATE_TARGET_HINT = 'set webhooks.allow_private_targets to allow it';

/** Why this target may not be posted to, or null when it may. */
export async function refuseTarget(target: string, policy: TargetPolicy): Promise<Refusal | null> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return { kind: 'url', detail: 'the target is not a URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return { kind: 'url', detail: 'the target must be http(s)' };
  if (policy.allowPrivateTargets) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: { address: string }[];
  try {
    addresses = await lookupAll(policy.resolve ?? systemLookup, host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    return { kind: 'unresolved', detail: `the target host ${host} does not resolve (${code})` };
  }
  if (addresses.length === 0) return { kind: 'unresolved', detail: `the target host ${host} has no address` };
  const local = localAddressValues(policy);
  for (const { address } of addresses) {
    const why = addressRefusal(address, local);
    if (why)
      return {
        kind: 'address',
        detail: `the target ${host} resolves to ${address}, ${why}; ${PRIVATE_TARGET_HINT}`,
      };
  }
  return null;
}

/** Why a resolved address may not be connected to ("loopback (RFC 1122)"), or null. */
export function addressRefusal(address: string, local: ReadonlySet<bigint>): string | null {
  if (isIP(address) === 0) return 'not an IP address';
  const special = specialPurpose(address);
  if (special) return `in ${special}`;
  return local.has(addressValue(address)) ? "an address of this host's own interfaces" : null;
}

/** This host's interface addresses as values, read at each check (interfaces come and go). */
export function localAddressValues(policy: Pick<TargetPolicy, 'localAddresses'>): Set<bigint> {
  const addresses = policy.localAddresses
    ? policy.localAddresses()
    : Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((info) => info.address));
  return new Set(addresses.filter((address) => isIP(address) !== 0).map(addressValue));
}

function lookupAll(resolveName: LookupFunction, host: string): Promise<{ address: string }[]> {
  // An IP literal needs no resolver; answering it here keeps an injected resolver to names only.
  if (isIP(host)) return Promise.resolve([{ address: host }]);
  return new Promise((resolve, reject) => {
    resolveName(host, { all: true }, (error, addresses) => {
      if (error) reject(error);
      else resolve(Array.isArray(addresses) ? addresses : [{ address: addresses }]);
    });
  });
}
