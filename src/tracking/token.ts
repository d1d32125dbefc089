/**
 * Tracking tokens: what a tracked link or pixel carries, signed so nobody can forge or alter one.
 *
 * Layout (before base64url): version · key id · kind · expiry · message id · recipient (the
 * prefix, the same for every link of one message to one recipient) · link index · link name ·
 * target URL, then a 16-byte MAC:
 *  - version 2 (signed now): the first 16 bytes of HMAC-SHA256(P, link index · name · URL) where
 *    P = HMAC-SHA256(secret, prefix) — a key per message and recipient, derived once per message,
 *    so each link's MAC hashes its own fields only (one SHA-256 block fewer per link than v1);
 *  - version 1 (tokens already delivered; still verified): HMAC-SHA256(secret, prefix · link
 *    fields), first 16 bytes.
 * The prefix is self-delimiting (length-prefixed fields), so where it ends is never ambiguous.
 * The key id travels in the clear (inside the signed part) so keys can rotate: the first
 * configured key signs, every configured key verifies. verify() answers the payload or null —
 * tampered, unknown key, expired and malformed tokens all look the same to a caller, which must
 * answer 404 and never redirect.
 */
import { timingSafeEqual } from 'node:crypto';
import { HmacSha256 } from './hmac-sha256.js';

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

const VERSION = 2;
const VERSION_1 = 1;
/** 128 bits of MAC: far beyond guessing, and 21 characters shorter than the full digest. */
const MAC_LENGTH = 16;
const KINDS: TokenKind[] = ['click', 'open', 'initial_open'];
const HEX_ID = /^(?:[0-9a-f]{2})+$/;
/** Longest token verify() accepts (and the HTTP door routes): a signer must not make longer ones. */
export const MAX_TOKEN_LENGTH = 8192;

export class TokenSigner {
  /** One keyed HMAC per key: the key's pad blocks are hashed once, not per token. */
  private byId = new Map<string, HmacSha256>();
  private signing: { id: string; mac: HmacSha256 };
  /** Where sign() writes a token's bytes; `scratchHolds` is the prefix its first bytes hold. */
  private readonly scratch = Buffer.allocUnsafe(4096);
  private scratchHolds: object | null = null;
  /** Rekeyed with each verified token's message key (verify() is synchronous). */
  private readonly verifying = new HmacSha256(new Uint8Array(32));
  /** The encoded shared fields of the last token signed (see sign()). */
  private prefix: {
    kind: TokenKind;
    expires: number;
    messageId: string;
    rcpt: string;
    bytes: Buffer;
    /** HMAC keyed with P (the per-message key, version 2). */
    mac: HmacSha256;
  } | null = null;

  /** ttlMs: how long a token stays valid; now: the clock (injected by tests). */
  constructor(
    keys: readonly SigningKey[],
    private ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.signing = this.rekey(keys);
  }

  /** A reload: new keys (the first signs from now on) and link lifetime, for the tokens made next. */
  setKeys(keys: readonly SigningKey[], ttlMs: number): void {
    this.signing = this.rekey(keys);
    this.ttlMs = ttlMs;
    this.prefix = null;
    this.scratchHolds = null;
  }

  private rekey(keys: readonly SigningKey[]): { id: string; mac: HmacSha256 } {
    if (keys.length === 0) throw new Error('tracking: at least one signing key is needed');
    const byId = new Map<string, HmacSha256>();
    for (const key of keys) {
      if (Buffer.byteLength(key.id) > 255) throw new Error('tracking: key id longer than 255 bytes');
      byId.set(key.id, new HmacSha256(Buffer.from(key.secret, 'utf8')));
    }
    this.byId = byId;
    return { id: keys[0]!.id, mac: new HmacSha256(Buffer.from(keys[0]!.secret, 'utf8')) };
  }

  sign(payload: Omit<TokenPayload, 'expires'>): string {
    const expires = Math.floor((this.now() + this.ttlMs) / 1000);
    // A message signs a hundred links or more for one recipient: the fields they share (key,
    // kind, expiry, message id, recipient) are encoded once and reused while they stay the same.
    let prefix = this.prefix;
    if (
      prefix === null ||
      prefix.kind !== payload.kind ||
      prefix.expires !== expires ||
      prefix.messageId !== payload.messageId ||
      prefix.rcpt !== payload.rcpt
    ) {
      const bytes = encodePrefix(payload.kind, expires, payload.messageId, payload.rcpt, this.signing.id);
      prefix = {
        kind: payload.kind,
        expires,
        messageId: payload.messageId,
        rcpt: payload.rcpt,
        bytes,
        mac: messageKey(this.signing.mac, bytes),
      };
      this.prefix = prefix;
    }
    // Body and MAC in one buffer, the MAC written into its last bytes.
    // Written into a scratch buffer that keeps the prefix between links; only a link too long
    // for it gets a buffer of its own. UTF-8 takes at most 3 bytes per UTF-16 unit.
    const p = prefix.bytes.length;
    const nameLength = payload.linkName.length === 0 ? 0 : Buffer.byteLength(payload.linkName);
    const worst = p + 10 + nameLength + payload.url.length * 3 + MAC_LENGTH;
    let out = this.scratch;
    if (worst > out.length) {
      out = Buffer.allocUnsafe(worst);
      out.set(prefix.bytes, 0);
    } else if (this.scratchHolds !== prefix) {
      out.set(prefix.bytes, 0);
      this.scratchHolds = prefix;
    }
    let at = writeVarint(out, p, payload.linkIndex);
    at = writeVarint(out, at, nameLength);
    if (nameLength > 0) at += out.write(payload.linkName, at, 'utf8');
    at += out.write(payload.url, at, 'utf8');
    prefix.mac.mac(out.subarray(p, at), out, at, MAC_LENGTH);
    return out.toString('base64url', 0, at + MAC_LENGTH);
  }

  verify(token: string): TokenPayload | null {
    if (token.length < 24 || token.length > MAX_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) return null;
    const raw = Buffer.from(token, 'base64url');
    // base64url decoding is lenient about trailing bits; re-encoding catches altered last characters.
    if (raw.toString('base64url') !== token || raw.length <= MAC_LENGTH) return null;
    const body = raw.subarray(0, raw.length - MAC_LENGTH);
    const mac = raw.subarray(raw.length - MAC_LENGTH);
    let decoded: Decoded | null;
    try {
      decoded = decode(body);
    } catch {
      return null;
    }
    if (!decoded) return null;
    const key = this.byId.get(decoded.keyId);
    if (!key) return null;
    const expected = Buffer.allocUnsafe(MAC_LENGTH);
    if (decoded.version === VERSION_1) key.mac(body, expected, 0, MAC_LENGTH);
    else {
      const prefix = body.subarray(0, decoded.prefixLength);
      const linkFields = body.subarray(decoded.prefixLength);
      messageKey(key, prefix, this.verifying).mac(linkFields, expected, 0, MAC_LENGTH);
    }
    if (!timingSafeEqual(expected, mac)) return null;
    if (decoded.payload.expires * 1000 <= this.now()) return null;
    return decoded.payload;
  }
}

/** The fields every link of one message to one recipient shares: version to recipient. */
function encodePrefix(
  kind: TokenKind,
  expires: number,
  messageId: string,
  rcpt: string,
  keyId: string,
): Buffer {
  // Sluice's message ids are hex: stored as bytes they take half the room. A flag byte says which.
  const hexId = HEX_ID.test(messageId);
  const id = hexId ? Buffer.from(messageId, 'hex') : Buffer.from(messageId, 'utf8');
  const keyLength = Buffer.byteLength(keyId);
  const rcptLength = Buffer.byteLength(rcpt);
  const size =
    1 +
    varintSize(keyLength) +
    keyLength +
    1 +
    4 +
    1 +
    varintSize(id.length) +
    id.length +
    varintSize(rcptLength) +
    rcptLength;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  out[at++] = VERSION;
  at = writeVarint(out, at, keyLength);
  at += out.write(keyId, at, 'utf8');
  out[at++] = KINDS.indexOf(kind);
  out.writeUInt32BE(Math.min(expires, 0xffffffff), at);
  at += 4;
  out[at++] = hexId ? 1 : 0;
  at = writeVarint(out, at, id.length);
  out.set(id, at);
  at += id.length;
  at = writeVarint(out, at, rcptLength);
  out.write(rcpt, at, 'utf8');
  return out;
}

const MESSAGE_KEY = new Uint8Array(32);

/** P = HMAC-SHA256(secret, prefix), as the key of an HMAC (version 2); `into` is reused when given. */
function messageKey(secret: HmacSha256, prefix: Buffer, into?: HmacSha256): HmacSha256 {
  secret.mac(prefix, MESSAGE_KEY, 0, 32);
  if (!into) return new HmacSha256(MESSAGE_KEY);
  into.setKey(MESSAGE_KEY);
  return into;
}

interface Decoded {
  version: number;
  keyId: string;
  /** Bytes from the version to the end of the recipient. */
  prefixLength: number;
  payload: TokenPayload;
}

function decode(body: Buffer): Decoded | null {
  const r = new Reader(body);
  const version = r.byte();
  if (version !== VERSION && version !== VERSION_1) return null;
  const keyId = r.field().toString('utf8');
  const kind = KINDS[r.byte()];
  if (!kind) return null;
  const expires = r.uint32();
  const hexId = r.byte();
  if (hexId > 1) return null;
  const messageId = r.field().toString(hexId ? 'hex' : 'utf8');
  const rcpt = r.field().toString('utf8');
  const prefixLength = r.position;
  const linkIndex = r.varint();
  const linkName = r.field().toString('utf8');
  const url = r.rest().toString('utf8');
  return {
    version,
    keyId,
    prefixLength,
    payload: { kind, messageId, rcpt, linkIndex, linkName, url, expires },
  };
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
  get position(): number {
    return this.at;
  }
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
