/**
 * A Postfix-compatible transport map (transport(5)), read from a text file: one
 * `pattern  transport:nexthop` a line; `#` comments and blank lines ignored; a line starting with
 * whitespace continues the previous one. Patterns: `example.com` (that domain only),
 * `.example.com` (its subdomains), `*` (everything else). Lookup order, as Postfix: the domain,
 * then each parent as `.parent`, then `*`.
 * Transports: `smtp` and `relay` (deliver; nexthop `[host]:port` = no MX lookup, `host:port` =
 * MX lookup of host, empty = the recipient domain's own routing), `error:text` (bounce with text)
 * and `retry:text` (defer with text). Anything else is an error naming the file and line.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseRelayHost, type RelayHost } from './route.js';

export type TransportEntry =
  | { kind: 'smtp'; nexthop: RelayHost | null }
  | { kind: 'error' | 'retry'; text: string };

export class TransportMapError extends Error {}

export class TransportMap {
  private constructor(private readonly entries: Map<string, TransportEntry>) {}

  static fromFile(file: string, defaultPort: number): TransportMap {
    return TransportMap.parse(readFileSync(file, 'utf8'), defaultPort, file);
  }

  static parse(text: string, defaultPort: number, source = 'transport map'): TransportMap {
    const entries = new Map<string, TransportEntry>();
    for (const { line, number } of logicalLines(text)) {
      const where = `${source}, line ${number}`;
      const match = /^(\S+)\s+(\S.*)$/.exec(line);
      if (!match)
        throw new TransportMapError(`${where}: expected "pattern transport:nexthop", got "${line}"`);
      const pattern = match[1]!.toLowerCase();
      if (!isPattern(pattern))
        throw new TransportMapError(
          `${where}: "${match[1]}" is not a domain, ".domain" or "*" (address patterns are not supported)`,
        );
      if (entries.has(pattern)) throw new TransportMapError(`${where}: "${pattern}" is listed twice`);
      entries.set(pattern, parseEntry(match[2]!.trim(), defaultPort, where));
    }
    return new TransportMap(entries);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The entry for a recipient domain, or undefined when the map has nothing to say about it. */
  lookup(domain: string): TransportEntry | undefined {
    const name = domain.toLowerCase().replace(/\.$/, '');
    const exact = this.entries.get(name);
    if (exact) return exact;
    for (let dot = name.indexOf('.'); dot !== -1; dot = name.indexOf('.', dot + 1)) {
      const parent = this.entries.get(name.slice(dot));
      if (parent) return parent;
    }
    return this.entries.get('*');
  }
}

function* logicalLines(text: string): Generator<{ line: string; number: number }> {
  let current: { line: string; number: number } | null = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (/^\s*(#|$)/.test(raw)) continue;
    if (/^\s/.test(raw) && current) {
      current.line += ` ${raw.trim()}`;
      continue;
    }
    if (current) yield current;
    current = { line: raw.trim(), number: i + 1 };
  }
  if (current) yield current;
}

function isPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  if (/^\[[^\]]+\]$/.test(pattern)) return isIP(pattern.slice(1, -1).replace(/^ipv6:/, '')) !== 0;
  const name = pattern.startsWith('.') ? pattern.slice(1) : pattern;
  return /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/.test(name);
}

function parseEntry(value: string, defaultPort: number, where: string): TransportEntry {
  const colon = value.indexOf(':');
  if (colon === -1 || !/^[A-Za-z0-9_-]*$/.test(value.slice(0, colon)))
    throw new TransportMapError(
      `${where}: expected "transport:nexthop" (such as smtp:[10.0.0.5]:25), got "${value}"`,
    );
  const transport = value.slice(0, colon).toLowerCase() || 'smtp';
  const rest = value.slice(colon + 1).trim();
  switch (transport) {
    case 'smtp':
    case 'relay': {
      if (rest === '') return { kind: 'smtp', nexthop: null };
      try {
        return { kind: 'smtp', nexthop: parseRelayHost(rest, defaultPort) };
      } catch {
        throw new TransportMapError(
          `${where}: bad nexthop "${rest}": expected "[host]:port" (no MX lookup) or "host:port" (MX lookup)`,
        );
      }
    }
    case 'error':
    case 'retry':
      return { kind: transport, text: rest };
    default:
      throw new TransportMapError(
        `${where}: transport "${transport}" is not supported (smtp, relay, error or retry)`,
      );
  }
}
