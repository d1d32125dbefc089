/**
 * Where a recipient domain's mail goes, first match wins: the transport map entry for the domain
 * (transport-map.ts), else the relayhost (Postfix syntax: "[host]:port" is taken as is,
 * "host:port" gets an MX lookup of host), else the domain's MX hosts by preference, else its
 * A/AAAA records (RFC 5321 section 5.1). A null MX (RFC 7505) or a domain that does not exist is a
 * permanent failure; a DNS server that fails to answer is a temporary one. A route also names its
 * host set (`hostSet`): domains whose mail goes to the same MX hosts share one shaping budget.
 */
import { isIP } from 'node:net';
import { type DnsResolver, isNotFound, type MxRecord } from './resolver.js';
import type { TransportMap } from './transport-map.js';

export interface Hop {
  /** The name as routed (MX exchange or relayhost), for logs and events. */
  name: string;
  address: string;
  port: number;
}

export type Route =
  | {
      ok: true;
      hops: Hop[];
      /** The next-hop names, sorted and joined: the same for every domain hosted on those hosts. */
      hostSet: string;
    }
  | { ok: false; permanent: boolean; enhanced: string; reason: string };

export interface RelayHost {
  host: string;
  port: number;
  mxLookup: boolean;
}

export function parseRelayHost(value: string, defaultPort: number): RelayHost {
  const match = /^(\[([^\]]+)\]|([^:[\]]+))(?::(\d+))?$/.exec(value.trim());
  if (!match) throw new Error(`invalid relayhost "${value}"`);
  const bracketed = match[2];
  return {
    host: (bracketed ?? match[3]!).toLowerCase(),
    port: match[4] ? Number(match[4]) : defaultPort,
    mxLookup: bracketed === undefined,
  };
}

export class Router {
  constructor(
    private readonly resolver: DnsResolver,
    private readonly smtpPort: number,
    private readonly relayhost: RelayHost | null,
    private readonly transportMap: TransportMap | null = null,
  ) {}

  async route(domain: string): Promise<Route> {
    const entry = this.transportMap?.lookup(domain);
    if (entry && entry.kind !== 'smtp') return transportRefusal(entry.kind, entry.text);
    const nexthop = entry ? entry.nexthop : this.relayhost;
    if (nexthop) {
      const { host, port, mxLookup } = nexthop;
      return mxLookup ? this.viaMx(host, port) : this.viaAddress(host, host, port);
    }
    const literal = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
    if (literal) return this.viaAddress(domain, literal[1]!, this.smtpPort);
    return this.viaMx(domain, this.smtpPort);
  }

  private async viaMx(domain: string, port: number): Promise<Route> {
    let mx: MxRecord[];
    try {
      mx = await this.resolver.resolveMx(domain);
    } catch (error) {
      if (isNotFound(error)) return this.viaAddress(domain, domain, port);
      return dnsTrouble(domain, error);
    }
    if (mx.length === 0) return this.viaAddress(domain, domain, port);
    if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) {
      return {
        ok: false,
        permanent: true,
        enhanced: '5.1.10',
        reason: `${domain} accepts no mail (null MX)`,
      };
    }
    const sorted = [...mx].sort((a, b) => a.priority - b.priority || Math.random() - 0.5);
    const hostSet = hostSetOf(
      mx.map((record) => record.exchange),
      port,
    );
    const hops: Hop[] = [];
    let lastError: unknown = null;
    for (const record of sorted) {
      try {
        for (const address of await this.addresses(record.exchange))
          hops.push({ name: record.exchange, address, port });
      } catch (error) {
        lastError = error;
      }
    }
    if (hops.length > 0) return { ok: true, hops, hostSet };
    if (lastError && !isNotFound(lastError)) return dnsTrouble(domain, lastError);
    return {
      ok: false,
      permanent: true,
      enhanced: '5.4.4',
      reason: `no address for any MX host of ${domain}`,
    };
  }

  private async viaAddress(name: string, host: string, port: number): Promise<Route> {
    const hostSet = hostSetOf([host], port);
    if (isIP(host)) return { ok: true, hops: [{ name, address: host, port }], hostSet };
    try {
      const addresses = await this.addresses(host);
      if (addresses.length > 0)
        return { ok: true, hops: addresses.map((address) => ({ name, address, port })), hostSet };
      return { ok: false, permanent: true, enhanced: '5.1.2', reason: `${host} has no address` };
    } catch (error) {
      if (isNotFound(error))
        return { ok: false, permanent: true, enhanced: '5.1.2', reason: `${host} does not exist` };
      return dnsTrouble(host, error);
    }
  }

  /** A and AAAA of a host (IPv4 first); throws only if both lookups failed. */
  private async addresses(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host), this.resolver.resolve6(host)]);
    const found = [
      ...(v4.status === 'fulfilled' ? v4.value : []),
      ...(v6.status === 'fulfilled' ? v6.value : []),
    ];
    if (found.length > 0) return found;
    const failure = v4.status === 'rejected' ? v4.reason : v6.status === 'rejected' ? v6.reason : null;
    if (failure && !isNotFound(failure)) throw failure;
    if (v6.status === 'rejected' && !isNotFound(v6.reason)) throw v6.reason;
    return [];
  }
}

function hostSetOf(names: string[], port: number): string {
  const unique = [...new Set(names.map((name) => name.toLowerCase().replace(/\.$/, '')))].sort();
  return `${unique.join(',')}:${port}`;
}

/** A transport map's error: (bounce) or retry: (defer) entry; its text may start with an enhanced code. */
function transportRefusal(kind: 'error' | 'retry', text: string): Route {
  const match = /^([245]\.\d{1,3}\.\d{1,3})\s*(.*)$/.exec(text);
  const permanent = kind === 'error';
  return {
    ok: false,
    permanent,
    enhanced: match?.[1] ?? (permanent ? '5.0.0' : '4.0.0'),
    reason: (match ? match[2] : text) || `refused by the transport map (${kind})`,
  };
}

function dnsTrouble(name: string, error: unknown): Route {
  const code = (error as { code?: string }).code ?? 'error';
  return {
    ok: false,
    permanent: false,
    enhanced: '4.4.3',
    reason: `DNS lookup for ${name} failed (${code})`,
  };
}
