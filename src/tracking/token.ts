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
    // Body and MAC in one buffer: a newsletter signs a hundred links or more per recipient.
    const token = encode({ ...payload, expires }, this.signing.id, MAC_LENGTH);
    const bodyLength = token.length - MAC_LENGTH;
    hmac(this.signing.secret, token.subarray(0, bodyLength)).copy(token, bodyLength);
    return token.toString('base64url');
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

/** The token body, written in one pass into a buffer with `spare` bytes left at the end (for the MAC). */
function encode(p: TokenPayload, keyId: string, spare: number): Buffer {
  // Sluice's message ids are hex: stored as bytes they take half the room. A flag byte says which.
  const hexId = HEX_ID.test(p.messageId);
  const id = hexId ? Buffer.from(p.messageId, 'hex') : p.messageId;
  const idLength = typeof id === 'string' ? Buffer.byteLength(id) : id.length;
  const keyLength = Buffer.byteLength(keyId);
  const rcptLength = Buffer.byteLength(p.rcpt);
  const nameLength = Buffer.byteLength(p.linkName);
  const urlLength = Buffer.byteLength(p.url);
  const size =
    1 +
    varintSize(keyLength) +
    keyLength +
    1 +
    4 +
    1 +
    varintSize(idLength) +
    idLength +
    varintSize(rcptLength) +
    rcptLength +
    varintSize(p.linkIndex) +
    varintSize(nameLength) +
    nameLength +
    urlLength;
  const out = Buffer.allocUnsafe(size + spare);
  let at = 0;
  out[at++] = VERSION;
  at = writeVarint(out, at, keyLength);
  at += out.write(keyId, at, 'utf8');
  out[at++] = KINDS.indexOf(p.kind);
  out.writeUInt32BE(Math.min(p.expires, 0xffffffff), at);
  at += 4;
  out[at++] = hexId ? 1 : 0;
  at = writeVarint(out, at, idLength);
  at += typeof id === 'string' ? out.write(id, at, 'utf8') : id.copy(out, at);
  at = writeVarint(out, at, rcptLength);
  at += out.write(p.rcpt, at, 'utf8');
  at = writeVarint(out, at, p.linkIndex);
  at = writeVarint(out, at, nameLength);
  at += out.write(p.linkName, at, 'utf8');
  out.write(p.url, at, 'utf8');
  return out;
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

function varintSize(n: number): number {
  let size = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 128)) size++;
  return size;
}

function writeVarint(out: Buffer, at: number, n: number): number {
  let i = at;
  let v = n;
  while (v >= 0x80) {
    out[i++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i++] = v;
  return i;
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
