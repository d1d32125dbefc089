/**
 * A cache of validated configurations for the one-shot commands (`sluice keys list`, `queue
 * list`, ...): loading the YAML library and the schema costs more than the rest of such a command,
 * so a configuration validated once is kept as JSON and reused while nothing it came from has
 * changed. An entry records everything the result depends on and is used only if all of it is
 * still the same: the file's text (compared whole, not by its mtime), the `-o` overrides, the
 * working directory (data_dir is resolved against it) and the compiled program (the build info
 * tsc rewrites with every compile of src, else every module's size and mtime). Only valid
 * configurations are kept; a bad file is validated (and refused) every time. Checking an entry
 * costs a few file reads and no hashing library.
 *
 * The cache lives in $XDG_CACHE_HOME/sluice (else ~/.cache/sluice), a directory of the user's own
 * (0700, files 0600: it holds what the configuration file holds, secrets included, readable only
 * by a user who could read that file), at most MAX_ENTRIES files, one per file, overrides and
 * working directory. It is not used when that directory is not the user's own or is writable by
 * others, nor with SLUICE_CONFIG_CACHE=off. The long-running services and `config check|show`
 * always validate the file itself.
 */
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

/** What an entry was made from: all of it must be the same for the entry to be used. */
interface Origin {
  cwd: string;
  file: string | null;
  text: string | null;
  overrides: string[];
  program: string;
}

export function lookupConfig(source: ConfigSource): CachedConfig {
  const none: CachedConfig = { hit: null, store: () => {} };
  if (process.env.SLUICE_CONFIG_CACHE === 'off') return none;
  const dir = cacheDir();
  if (!dir) return none;
  let origin: Origin;
  try {
    origin = {
      cwd: process.cwd(),
      file: source.file ? path.resolve(source.file) : null,
      text: source.file ? readFileSync(source.file, 'utf8') : null,
      overrides: source.overrides ?? [],
      program: programIdentity(),
    };
  } catch {
    return none; // the file cannot be read: the real load says why
  }
  const entry = path.join(dir, `${fnv1a(JSON.stringify([origin.cwd, origin.file, origin.overrides]))}.json`);
  let hit: Config | null = null;
  try {
    const stored = JSON.parse(readFileSync(entry, 'utf8')) as { origin: Origin; config: Config };
    if (JSON.stringify(stored.origin) === JSON.stringify(origin)) hit = stored.config;
  } catch {
    // not cached yet (or unreadable): validate and store
  }
  return { hit, store: (config) => writeEntry(dir, entry, { origin, config }) };
}

/**
 * Which build this is: tsc's build info for src changes with every compile; without it (a copy
 * without the file), the size and mtime of every compiled module.
 */
function programIdentity(): string {
  try {
    const info = statSync(path.join(PROGRAM_ROOT, 'tsconfig.tsbuildinfo'));
    return `buildinfo:${info.size}:${info.mtimeMs}`;
  } catch {
    const out: string[] = [];
    for (const entry of readdirSync(PROGRAM_ROOT, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
      const file = path.join(entry.parentPath ?? entry.path, entry.name);
      const stat = statSync(file);
      out.push(`${path.relative(PROGRAM_ROOT, file)}:${stat.size}:${stat.mtimeMs}`);
    }
    return out.sort().join('\n');
  }
}

/** 32-bit FNV-1a, for an entry's file name (a collision only means a miss and an overwrite). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
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

function writeEntry(dir: string, file: string, entry: { origin: Origin; config: Config }): void {
  try {
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify(entry), { mode: 0o600 });
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
