/**
 * The DNS the delivery engine sees. Production uses the system resolver; tests inject their own
 * records (the Internet's DNS cannot run here), so routing is tested without mocks of anything else.
 */
import { Resolver } from 'node:dns/promises';

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface DnsResolver {
  resolveMx(name: string): Promise<MxRecord[]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
}

export function systemResolver(timeoutMs = 10_000): DnsResolver {
  const resolver = new Resolver({ timeout: timeoutMs, tries: 2 });
  return {
    resolveMx: (name) => resolver.resolveMx(name),
    resolve4: (name) => resolver.resolve4(name),
    resolve6: (name) => resolver.resolve6(name),
  };
}

/** An answer that says the name or record does not exist (permanent), as opposed to a failure to ask. */
export function isNotFound(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'ENOTFOUND' || code === 'ENODATA' || code === 'NXDOMAIN';
}

/** A resolver over fixed records, for tests and for `delivery` setups that pin names. */
export function staticResolver(records: {
  mx?: Record<string, MxRecord[]>;
  a?: Record<string, string[]>;
  aaaa?: Record<string, string[]>;
}): DnsResolver {
  const lookup = <T>(table: Record<string, T[]> | undefined, name: string): Promise<T[]> => {
    const found = table?.[name.toLowerCase()];
    if (found) return Promise.resolve(found);
    return Promise.reject(Object.assign(new Error(`queryX ENOTFOUND ${name}`), { code: 'ENOTFOUND' }));
  };
  return {
    resolveMx: (name) => lookup(records.mx, name),
    resolve4: (name) => lookup(records.a, name),
    resolve6: (name) => lookup(records.aaaa, name),
  };
}
