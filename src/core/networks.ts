/**
 * Address matching for relay networks and key `valid_ips`, on Node's BlockList (no string tricks:
 * IPv4-mapped IPv6 addresses such as ::ffff:127.0.0.1 match their IPv4 networks).
 */
import { BlockList, isIP } from 'node:net';

/** Answers remembered per set: BlockList.check builds a SocketAddress each time (~2.5 µs). */
const MEMO_LIMIT = 4096;

export class NetworkSet {
  private readonly list = new BlockList();
  private readonly memo = new Map<string, boolean>();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address, bits] = cidr.split('/') as [string, string | undefined];
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(bits), family);
    }
    this.size = cidrs.length;
  }

  has(ip: string): boolean {
    const known = this.memo.get(ip);
    if (known !== undefined) return known;
    const plain = unmapIPv4(ip);
    const family = isIP(plain);
    const answer = family !== 0 && this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
    // The networks never change, so an answer stays true; the bound only caps memory.
    if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
    this.memo.set(ip, answer);
    return answer;
  }
}

/** ::ffff:a.b.c.d (how dual-stack sockets report IPv4 clients) → a.b.c.d */
export function unmapIPv4(ip: string): string {
  return ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}
