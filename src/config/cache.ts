/**
 * A cache of validated configurations for the one-shot commands (`sluice keys list`, `queue
 * list`, ...): loading the YAML library and the schema costs more than the rest of such a command,
 * so a configuration validated once is kept as JSON and reused while nothing it came from has
 * changed. The key covers everything the result depends on: the file's bytes (not its mtime),
 * the `-o` overrides, the working directory (data_dir is resolved against it) and the compiled
 * program (size and mtime of every module under dist/src, so a rebuild or an upgrade invalidates
 * it). Only valid configurations are kept; a bad file is validated (and refused) every time.
 *
 * The cache lives in $XDG_CACHE_HOME/sluice (else ~/.cache/sluice), a directory of the user's own
 * (0700, files 0600: it holds what the configuration file holds, secrets included, readable only
 * by a user who could read that file), at most MAX_ENTRIES files. It is not used when that
 * directory is not the user's own or is writable by others, nor with SLUICE_CONFIG_CACHE=off.
 * The long-running services and `config check|show` always validate the file itself.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './schema.js';

const MAX_ENTRIES = 32;
/** dist/src: every compiled module (this file is dist/src/config/cache.js). */
const PROGRAM_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface ConfigSource {
  file?: string | undefined;
  overrides?: string[];
}

export interface CachedConfig {
  /** The cached configuration, or null (not cached yet, or no cache to use). */
  hit: Config | null;
  /** Keeps a configuration validated for this source (no-op without a usable cache). */
  store(config: Config): void;
}

export function lookupConfig(source: ConfigSource): CachedConfig {
  const none: CachedConfig = { hit: null, store: () => {} };
  if (process.env.SLUICE_CONFIG_CACHE === 'off') return none;
  const dir = cacheDir();
  if (!dir) return none;
  let key: string;
  try {
    key = cacheKey(source);
  } catch {
    return none; // the file cannot be read: the real load says why
  }
  const file = path.join(dir, `${key}.json`);
  let hit: Config | null = null;
  try {
    hit = JSON.parse(readFileSync(file, 'utf8')) as Config;
  } catch {
    // not cached yet (or unreadable): validate and store
  }
  return { hit, store: (config) => writeEntry(dir, file, config) };
}

function cacheKey(source: ConfigSource): string {
  const hash = createHash('sha256');
  hash.update(`cwd\0${process.cwd()}\0`);
  if (source.file) hash.update(`file\0${path.resolve(source.file)}\0`).update(readFileSync(source.file));
  for (const override of source.overrides ?? []) hash.update(`\0o\0${override}`);
  hash.update('\0program\0');
  for (const entry of programFiles(PROGRAM_ROOT)) hash.update(entry);
  return hash.digest('hex').slice(0, 40);
}

/** name:size:mtime of every compiled module, in a stable order. */
function programFiles(root: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
    const file = path.join(entry.parentPath ?? entry.path, entry.name);
    const stat = statSync(file);
    out.push(`${path.relative(root, file)}:${stat.size}:${stat.mtimeMs}\n`);
  }
  return out.sort();
}

/** The user's own cache directory, made if missing; null when there is none safe to use. */
function cacheDir(): string | null {
  const base = process.env.XDG_CACHE_HOME || (os.homedir() ? path.join(os.homedir(), '.cache') : '');
  if (!base || !path.isAbsolute(base)) return null;
  const dir = path.join(base, 'sluice');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    const uid = process.getuid?.();
    if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid) || (stat.mode & 0o022) !== 0)
      return null;
    return dir;
  } catch {
    return null;
  }
}

function writeEntry(dir: string, file: string, config: Config): void {
  try {
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(config), { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, file);
    prune(dir);
  } catch {
    // a cache that cannot be written is only slower
  }
}

/** Keeps the MAX_ENTRIES most recently written entries. */
function prune(dir: string): void {
  const entries = readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .map((name) => ({ name, mtime: statSync(path.join(dir, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const { name } of entries.slice(MAX_ENTRIES)) unlinkSync(path.join(dir, name));
}
