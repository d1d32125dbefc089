/**
 * HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) for short inputs, in JavaScript, with the key's
 * inner and outer pad blocks hashed once per key.
 *
 * Why not node:crypto: a tracked newsletter signs one token per link (a hundred or more per
 * recipient), each a ~100-byte input. createHmac() costs ~2.4 µs, almost all of it crossing
 * into C++ and setting the key up again; the hashing itself is three SHA-256 blocks. Here a MAC is
 * those blocks only (the pad blocks' states are kept), about three times cheaper. The output is
 * the standard HMAC-SHA256 (test/tracking/hmac-sha256.test.ts checks it against node:crypto on
 * random keys and inputs), so tokens signed either way verify either way.
 *
 * Contract: mac(data, out, outAt, length) writes the first `length` (≤ 32) bytes of
 * HMAC-SHA256(key, data) into out at outAt. Not reentrant across threads (it has scratch state);
 * one instance per key per thread.
 */

/** First 32 bits of the fractional parts of the square roots (H0) and cube roots (K) of the first primes (FIPS 180-4 4.2.2, 5.3.3). */
function primeRootConstants(count: number, root: (p: number) => number): Int32Array {
  const out = new Int32Array(count);
  let found = 0;
  for (let n = 2; found < count; n++) {
    let prime = true;
    for (let d = 2; d * d <= n; d++) if (n % d === 0) prime = false;
    if (!prime) continue;
    const r = root(n);
    out[found++] = Math.floor((r - Math.floor(r)) * 2 ** 32) | 0;
  }
  return out;
}

const K = primeRootConstants(64, Math.cbrt);
const H0 = primeRootConstants(8, Math.sqrt);
const BLOCK = 64;
/** Scratch for setKey() (used synchronously, so shared). */
const IPAD = new Uint8Array(BLOCK);
const OPAD = new Uint8Array(BLOCK);

export class HmacSha256 {
  private readonly innerStart = new Int32Array(8);
  private readonly outerStart = new Int32Array(8);
  private readonly h = new Int32Array(8);
  private readonly w = new Int32Array(64);
  /** The last one or two blocks of the inner hash: the data's tail, 0x80, zeros, bit length. */
  private readonly tail = new Uint8Array(2 * BLOCK);

  constructor(key: Uint8Array) {
    this.setKey(key);
  }

  /** Keys this instance anew (reusing it saves its allocations when keys change per message). */
  setKey(key: Uint8Array): void {
    // RFC 2104: a key longer than the block is hashed first; a shorter one is padded with zeros.
    let k = key;
    if (k.length > BLOCK) {
      this.h.set(H0);
      k = this.digest(this.h, k, 0);
    }
    const ipad = IPAD.fill(0x36);
    const opad = OPAD.fill(0x5c);
    for (let i = 0; i < k.length; i++) {
      ipad[i]! ^= k[i]!;
      opad[i]! ^= k[i]!;
    }
    this.innerStart.set(H0);
    this.compress(this.innerStart, ipad, 0);
    this.outerStart.set(H0);
    this.compress(this.outerStart, opad, 0);
  }

  mac(data: Uint8Array, out: Uint8Array, outAt: number, length: number): void {
    const h = this.h;
    h.set(this.innerStart);
    this.finish(h, data, BLOCK);
    // The outer hash's only block: the 32-byte inner digest, 0x80, zeros, (64 + 32) * 8 bits.
    const w = this.w;
    for (let i = 0; i < 8; i++) w[i] = h[i]!;
    w[8] = 0x80000000 | 0;
    for (let i = 9; i < 15; i++) w[i] = 0;
    w[15] = (BLOCK + 32) * 8;
    h.set(this.outerStart);
    this.compressWords(h);
    for (let i = 0; i < length; i++) out[outAt + i] = h[i >> 2]! >>> (24 - 8 * (i & 3));
  }

  /** SHA-256 of `data` from state h (which has already absorbed `before` bytes), as 32 bytes. */
  private digest(h: Int32Array, data: Uint8Array, before: number): Uint8Array {
    this.finish(h, data, before);
    const out = new Uint8Array(32);
    for (let i = 0; i < 32; i++) out[i] = h[i >> 2]! >>> (24 - 8 * (i & 3));
    return out;
  }

  /** Absorbs data and the padding into h. */
  private finish(h: Int32Array, data: Uint8Array, before: number): void {
    const full = data.length - (data.length % BLOCK);
    for (let at = 0; at < full; at += BLOCK) this.compress(h, data, at);
    const tail = this.tail;
    const rest = data.length - full;
    for (let i = 0; i < rest; i++) tail[i] = data[full + i]!;
    tail[rest] = 0x80;
    const end = rest + 1 + 8 <= BLOCK ? BLOCK : 2 * BLOCK;
    tail.fill(0, rest + 1, end - 4);
    // Inputs here are far below 2^29 bytes: the bit length fits the last 32 bits.
    const bits = (before + data.length) * 8;
    tail[end - 4] = bits >>> 24;
    tail[end - 3] = bits >>> 16;
    tail[end - 2] = bits >>> 8;
    tail[end - 1] = bits;
    this.compress(h, tail, 0);
    if (end === 2 * BLOCK) this.compress(h, tail, BLOCK);
  }

  private compress(h: Int32Array, bytes: Uint8Array, at: number): void {
    const w = this.w;
    for (let i = 0, j = at; i < 16; i++, j += 4)
      w[i] = (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!;
    this.compressWords(h);
  }

  /** The SHA-256 compression function on the block already in w[0..15]. */
  private compressWords(h: Int32Array): void {
    const w = this.w;
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15]!;
      const y = w[i - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
    }
    let a = h[0]!;
    let b = h[1]!;
    let c = h[2]!;
    let d = h[3]!;
    let e = h[4]!;
    let f = h[5]!;
    let g = h[6]!;
    let hh = h[7]!;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i]! + w[i]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = (h[0]! + a) | 0;
    h[1] = (h[1]! + b) | 0;
    h[2] = (h[2]! + c) | 0;
    h[3] = (h[3]! + d) | 0;
    h[4] = (h[4]! + e) | 0;
    h[5] = (h[5]! + f) | 0;
    h[6] = (h[6]! + g) | 0;
    h[7] = (h[7]! + hh) | 0;
  }
}
