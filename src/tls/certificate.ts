/**
 * The TLS pair for STARTTLS: the files named in config, or a self-signed pair generated into
 * data_dir/tls on first start (so submission works out of the box; real deployments name theirs).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { usingOption } from '../config/errors.js';

export interface TlsPair {
  key: string;
  cert: string;
  generated: boolean;
}

export async function loadTlsPair(
  tls: { cert: string | null; key: string | null },
  dataDir: string,
  hostname: string,
) {
  if (tls.cert || tls.key) {
    if (!tls.cert || !tls.key) throw new Error('tls.cert and tls.key must be given together');
    const { cert, key } = tls;
    return {
      cert: await usingOption('tls.cert', cert, () => readFile(cert, 'utf8')),
      key: await usingOption('tls.key', key, () => readFile(key, 'utf8')),
      generated: false,
    };
  }
  const dir = path.join(dataDir, 'tls');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8'), generated: false };
  }
  // Loaded only to make a pair (the first start): it is large, and every later start reads files.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: hostname }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    days: 3650,
    extensions: [
      { name: 'basicConstraints', cA: false },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: hostname },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
  } as Parameters<typeof generate>[1]);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  // Public, but kept like everything in data_dir: for Sluice's user only.
  await writeFile(certFile, pems.cert, { mode: 0o600 });
  return { cert: pems.cert, key: pems.private, generated: true } satisfies TlsPair;
}
