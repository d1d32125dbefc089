/**
 * DKIM signing (RFC 6376) per sender domain, with mailauth: relaxed/relaxed, rsa-sha256 or
 * ed25519-sha256 (RFC 8463) chosen by the key's type. Keys come from PEM files named in config
 * (`delivery.dkim`), read once at start; a key that cannot be read or is of another type stops the
 * start with the file named. The signing domain is picked from the From: header's domain: an
 * exact key, else the key of a parent domain, else a "*" key; no key, no signature.
 * This is the last stage before the wire: a signature covers the exact bytes sent, so nothing may
 * rewrite the message after it. Signing needs the whole message, so a streamed one is collected.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';

/** mailauth, loaded on the first signature: a server without DKIM keys never pays for it at start. */
let signing: Promise<typeof import('mailauth/lib/dkim/sign.js')> | null = null;

export interface DkimKey {
  /** Sender domain this key signs for ("*": any). */
  domain: string;
  selector: string;
  /** d= of the signature. */
  signingDomain: string;
  privateKey: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
}

export interface DkimKeySource {
  domain: string;
  selector: string;
  key_file: string;
  signing_domain: string | null;
}

/** Headers signed when present (h=); From is required by RFC 6376. */
const SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'List-Id',
];

export class DkimSigner {
  private readonly keys = new Map<string, DkimKey>();

  constructor(keys: DkimKey[]) {
    for (const key of keys) this.keys.set(key.domain.toLowerCase(), key);
  }

  static fromConfig(sources: DkimKeySource[]): DkimSigner {
    return new DkimSigner(sources.map(loadKey));
  }

  get size(): number {
    return this.keys.size;
  }

  /** The key for a sender domain: exact, then the nearest parent, then "*". */
  keyFor(domain: string): DkimKey | undefined {
    let name = domain.toLowerCase().replace(/\.$/, '');
    for (;;) {
      const key = this.keys.get(name);
      if (key) return key;
      const dot = name.indexOf('.');
      if (dot === -1) return this.keys.get('*');
      name = name.slice(dot + 1);
    }
  }

  /** The message with a DKIM-Signature header prepended, or unchanged when no key applies. */
  async sign(message: Buffer): Promise<Buffer> {
    const domain = fromDomain(message);
    const key = domain ? this.keyFor(domain) : undefined;
    if (!key) return message;
    // mailauth signs only what is listed in signatureData; the top-level key fields are ignored.
    const signature = {
      signingDomain: key.signingDomain,
      selector: key.selector,
      privateKey: key.privateKey,
      algorithm: key.algorithm,
      canonicalization: 'relaxed/relaxed',
    };
    signing ??= import('mailauth/lib/dkim/sign.js');
    const { dkimSign } = await signing;
    const result = await dkimSign(message, {
      ...signature,
      headerList: SIGNED_HEADERS,
      signatureData: [signature],
    });
    if (result.errors.length > 0 || !result.signatures.startsWith('DKIM-Signature:'))
      throw new Error(
        `DKIM signing for ${key.signingDomain} failed: ${result.errors.map((e: Error) => e.message).join('; ')}`,
      );
    return Buffer.concat([Buffer.from(result.signatures), message]);
  }

  /**
   * The render pipeline's last stage: the same bytes, signed. A buffer stays a buffer inside a
   * stream; a stream is collected first (the signature covers the whole body). Errors surface as
   * a stream error, which fails the transaction before the final dot (the peer keeps nothing).
   */
  stage(source: Buffer | Readable): Buffer | Readable {
    if (this.keys.size === 0) return source;
    const out = new PassThrough();
    const collect = Buffer.isBuffer(source) ? Promise.resolve(source) : collectStream(source);
    collect
      .then((bytes) => this.sign(bytes))
      .then(
        (signed) => out.end(signed),
        (error: Error) => out.destroy(error),
      );
    return out;
  }
}

function loadKey(source: DkimKeySource): DkimKey {
  let pem: string;
  try {
    pem = readFileSync(source.key_file, 'utf8');
  } catch (error) {
    throw new Error(
      `DKIM key for ${source.domain}: cannot read ${source.key_file}: ${(error as Error).message}`,
    );
  }
  let type: string | undefined;
  try {
    type = createPrivateKey(pem).asymmetricKeyType;
  } catch (error) {
    throw new Error(
      `DKIM key for ${source.domain}: ${source.key_file} is not a PEM private key: ${(error as Error).message}`,
    );
  }
  if (type !== 'rsa' && type !== 'ed25519')
    throw new Error(`DKIM key for ${source.domain}: ${source.key_file} is ${type}; expected RSA or Ed25519`);
  return {
    domain: source.domain.toLowerCase(),
    selector: source.selector,
    signingDomain: (source.signing_domain ?? source.domain).toLowerCase(),
    privateKey: pem,
    algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256',
  };
}

function collectStream(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

/** The domain of the (last) address in the From: header, or undefined. */
export function fromDomain(message: Buffer): string | undefined {
  let end = message.indexOf('\r\n\r\n');
  if (end === -1) end = message.indexOf('\n\n');
  const header = message.subarray(0, end === -1 ? message.length : end).toString('latin1');
  const unfolded = header.replace(/\r?\n[ \t]+/g, ' ');
  const from = /^from:(.*)$/im.exec(unfolded)?.[1];
  if (!from) return undefined;
  const domains = [...from.matchAll(/@([A-Za-z0-9.-]+)/g)].map((m) => m[1]!);
  return domains.at(-1)?.toLowerCase();
}
