/**
 * The signing keys for tracking tokens: `tracking.keys` from config when given (the first signs,
 * all verify), else one key generated into data_dir/tracking/keys.json on first start and read
 * back on every later start, so links keep working across restarts. The secret is never logged;
 * callers learn only whether a key was generated and where.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SigningKey } from './token.js';

export interface LoadedKeys {
  keys: SigningKey[];
  /** Set when a key was generated on this start. */
  generated: string | null;
}

export async function loadTrackingKeys(
  configured: readonly SigningKey[],
  dataDir: string,
): Promise<LoadedKeys> {
  if (configured.length > 0) return { keys: [...configured], generated: null };
  const file = path.join(dataDir, 'tracking', 'keys.json');
  if (existsSync(file)) {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as unknown;
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every(isKey))
      throw new Error(`${file}: expected a JSON array of {"id", "secret"}`);
    return { keys: parsed, generated: null };
  }
  const key: SigningKey = {
    id: randomBytes(3).toString('hex'),
    secret: randomBytes(32).toString('base64url'),
  };
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  // 'wx': two processes starting at once must not overwrite each other's key.
  await writeFile(file, `${JSON.stringify([key], null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  return { keys: [key], generated: file };
}

function isKey(value: unknown): value is SigningKey {
  const v = value as SigningKey;
  return typeof v === 'object' && v !== null && typeof v.id === 'string' && typeof v.secret === 'string';
}
