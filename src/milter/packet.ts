/**
 * Milter packets and their fields, the part of the codec both directions share: a packet is a
 * 4-byte big-endian length (counting the command byte), the command byte, then the payload. The
 * framer rejects a length of 0 or above `maxPacketSize` as soon as its 4 bytes are seen, so
 * nothing is ever allocated from a length, only from bytes that really arrived. Field readers
 * turn a short or unterminated field into a WireError whose message never quotes payload bytes.
 */

export type WireErrorCode = 'length' | 'malformed' | 'unknown-command' | 'invalid-response';

export class WireError extends Error {
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'WireError';
  }
}

export interface Packet {
  code: string;
  payload: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Framing

export class PacketFramer {
  private parts: Buffer[] = [];
  private buffered = 0;
  private failed: WireError | null = null;

  constructor(private readonly maxPacketSize: number) {}

  /** Complete packets from this chunk, or the error that ends the stream (it stays failed). */
  push(chunk: Buffer): { packets: Packet[]; error: WireError | null } {
    const packets: Packet[] = [];
    if (this.failed) return { packets, error: this.failed };
    if (chunk.length > 0) {
      this.parts.push(chunk);
      this.buffered += chunk.length;
    }
    while (this.buffered >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length === 0 || length > this.maxPacketSize) {
        this.failed = new WireError(
          'length',
          length === 0
            ? 'packet length 0'
            : `packet length ${length} over the limit of ${this.maxPacketSize}`,
        );
        this.parts = [];
        this.buffered = 0;
        return { packets, error: this.failed };
      }
      if (this.buffered < 4 + length) break;
      const whole = this.take(4 + length);
      packets.push({ code: String.fromCharCode(whole[4]!), payload: whole.subarray(5) });
    }
    return { packets, error: null };
  }

  /** Bytes of an unfinished packet (a stream that ends here was truncated). */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.parts[0]!.length < n) this.parts = [Buffer.concat(this.parts)];
    return this.parts[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.parts[0]!.length < n) this.parts = [Buffer.concat(this.parts)];
    const first = this.parts[0]!;
    const out = first.subarray(0, n);
    if (first.length === n) this.parts.shift();
    else this.parts[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/** One packet's bytes: length, code, payload. */
export function frame(code: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length + 1, 0);
  head[4] = code.charCodeAt(0);
  return Buffer.concat([head, payload]);
}

// ---------------------------------------------------------------------------------------------
// Field readers and writers

export class Reader {
  private at = 0;
  constructor(
    private readonly data: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.data.length - this.at;
  }

  u32(): number {
    if (this.remaining < 4) throw malformed(`${this.what}: truncated 32-bit field`);
    const v = this.data.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  u16(): number {
    if (this.remaining < 2) throw malformed(`${this.what}: truncated 16-bit field`);
    const v = this.data.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  byte(): number {
    if (this.remaining < 1) throw malformed(`${this.what}: missing byte`);
    return this.data[this.at++]!;
  }

  string(): string {
    const nul = this.data.indexOf(0, this.at);
    if (nul === -1) throw malformed(`${this.what}: string without its NUL`);
    const s = this.data.toString('utf8', this.at, nul);
    this.at = nul + 1;
    return s;
  }

  rest(): Buffer {
    const out = this.data.subarray(this.at);
    this.at = this.data.length;
    return out;
  }

  end(): void {
    if (this.remaining !== 0) throw malformed(`${this.what}: ${this.remaining} unexpected trailing bytes`);
  }
}

export const malformed = (message: string) => new WireError('malformed', message);

export function cstrings(values: readonly string[]): Buffer {
  for (const v of values)
    if (v.includes('\0')) throw new WireError('invalid-response', 'a string field contains a NUL');
  return Buffer.from(values.map((v) => `${v}\0`).join(''), 'utf8');
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** Every NUL-terminated string of a payload; at least `min` of them. */
export function strings(r: Reader, min: number): string[] {
  const out: string[] = [];
  while (r.remaining > 0) out.push(r.string());
  if (out.length < min) throw malformed('missing string fields');
  return out;
}
