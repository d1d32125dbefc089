/**
 * Tracking tokens: what a tracked link or pixel carries, signed so nobody can forge or alter one.
 *
 * Layout (before base64url): version · key id · kind · expiry · message id · recipient · link
 * index · link name · target URL, then the first 16 bytes of HMAC-SHA256(secret, everything
 * before). The key id travels in the clear (inside the signed part) so keys can rotate: the first
 * configured key signs, every configured key verifies. verify() answers the payload or null —
 * tampered, unknown key, expired and malformed tokens all look the same to a caller, which must
 * answer 404 and never redirect.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenKind = 'click' | 'open' | 'initial_open';

export interface TokenPayload {
  kind: TokenKind;
  messageId: string;
  rcpt: string;
  /** Position of the link in the message (0 for pixels). */
  linkIndex: number;
  /** data-msys-linkname, or '' when the link has none. */
  linkName: string;
  /** Click target; '' for pixels. */
  url: string;
  /** Expiry, seconds since the epoch. */
  expires: number;
}

export interface SigningKey {
  id: string;
  secret: string;
}

const VERSION = 1;
/** 128 bits of MAC: far beyond guessing, and 21 characters shorter than the full digest. */
const MAC_LENGTH = 16;
const KINDS: TokenKind[] = ['click', 'open', 'initial_open'];
const HEX_ID = /^(?:[0-9a-f]{2})+$/;
/** Longest token verify() accepts (and the HTTP door routes): a signer must not make longer ones. */
export const MAX_TOKEN_LENGTH = 8192;

export class TokenSigner {
  private readonly byId = new Map<string, Buffer>();
  private readonly signing: { id: string; secret: Buffer };

  /** ttlMs: how long a token stays valid; now: the clock (injected by tests). */
  constructor(
    keys: readonly SigningKey[],
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (keys.length === 0) throw new Error('tracking: at least one signing key is needed');
    for (const key of keys) {
      if (Buffer.byteLength(key.id) > 255) throw new Error('tracking: key id longer than 255 bytes');
      this.byId.set(key.id, Buffer.from(key.secret, 'utf8'));
    }
    this.signing = { id: keys[0]!.id, secret: Buffer.from(keys[0]!.secret, 'utf8') };
  }

  sign(payload: Omit<TokenPayload, 'expires'>): string {
    const expires = Math.floor((this.now() + this.ttlMs) / 1000);
    const body = encode({ ...payload, expires }, this.signing.id);
    const mac = hmac(this.signing.secret, body);
    return Buffer.concat([body, mac]).toString('base64url');
  }

  verify(token: string): TokenPayload | null {
    if (token.length < 24 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
    const raw = Buffer.from(token, 'base64url');
    // base64url decoding is lenient about trailing bits; re-encoding catches altered last characters.
    if (raw.toString('base64url') !== token || raw.length <= MAC_LENGTH) return null;
    const body = raw.subarray(0, raw.length - MAC_LENGTH);
    const mac = raw.subarray(raw.length - MAC_LENGTH);
    let decoded: { keyId: string; payload: TokenPayload } | null;
    try {
      decoded = decode(body);
    } catch {
      return null;
    }
    if (!decoded) return null;
    const secret = this.byId.get(decoded.keyId);
    if (!secret) return null;
    if (!timingSafeEqual(hmac(secret, body), mac)) return null;
    if (decoded.payload.expires * 1000 <= this.now()) return null;
    return decoded.payload;
  }
}

function hmac(secret: Buffer, body: Buffer): Buffer {
  return createHmac('sha256', secret).update(body).digest().subarray(0, MAC_LENGTH);
}

function encode(p: TokenPayload, keyId: string): Buffer {
  const out: Buffer[] = [Buffer.from([VERSION])];
  out.push(field(Buffer.from(keyId, 'utf8')));
  const expires = Buffer.alloc(4);
  expires.writeUInt32BE(Math.min(p.expires, 0xffffffff));
  out.push(Buffer.from([KINDS.indexOf(p.kind)]), expires);
  // Sluice's message ids are hex: stored as bytes they take half the room. Bit 0 says which.
  const hexId = HEX_ID.test(p.messageId);
  out.push(Buffer.from([hexId ? 1 : 0]), field(Buffer.from(p.messageId, hexId ? 'hex' : 'utf8')));
  out.push(field(Buffer.from(p.rcpt, 'utf8')), varint(p.linkIndex), field(Buffer.from(p.linkName, 'utf8')));
  out.push(Buffer.from(p.url, 'utf8'));
  return Buffer.concat(out);
}

function decode(body: Buffer): { keyId: string; payload: TokenPayload } | null {
  const r = new Reader(body);
  if (r.byte() !== VERSION) return null;
  const keyId = r.field().toString('utf8');
  const kind = KINDS[r.byte()];
  if (!kind) return null;
  const expires = r.uint32();
  const hexId = r.byte();
  if (hexId > 1) return null;
  const messageId = r.field().toString(hexId ? 'hex' : 'utf8');
  const rcpt = r.field().toString('utf8');
  const linkIndex = r.varint();
  const linkName = r.field().toString('utf8');
  const url = r.rest().toString('utf8');
  return { keyId, payload: { kind, messageId, rcpt, linkIndex, linkName, url, expires } };
}

function field(bytes: Buffer): Buffer {
  return Buffer.concat([varint(bytes.length), bytes]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  byte(): number {
    if (this.at >= this.buf.length) throw new RangeError('short token');
    return this.buf[this.at++]!;
  }
  uint32(): number {
    if (this.at + 4 > this.buf.length) throw new RangeError('short token');
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  varint(): number {
    let v = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.byte();
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    throw new RangeError('bad varint');
  }
  field(): Buffer {
    const length = this.varint();
    if (this.at + length > this.buf.length) throw new RangeError('short token');
    const v = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return v;
  }
  rest(): Buffer {
    const v = this.buf.subarray(this.at);
    this.at = this.buf.length;
    return v;
  }
}
