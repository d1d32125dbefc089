/**
 * What a reload (SIGHUP, `systemctl reload`) may change. Each long-running command says which
 * options it reads (`uses`) and which of those it applies while running (`live`), as key-path
 * prefixes. planReload() compares the running configuration with the file read again and sorts
 * every changed option into applied (live), kept until restart (used but not live: a warning names
 * each, and the running value stays), or not this command's business (another command reads it).
 * forReload() builds the configuration to run with: the new one, the restart-only changes undone.
 * applyInPlace() writes it into the running object section by section, so every holder of the
 * configuration object or of one of its sections reads the new values from then on.
 */
import type { Config } from './schema.js';

export interface ReloadSpec {
  /** Option prefixes the command reads ("" for all), e.g. "auth", "log.level". */
  uses: readonly string[];
  /** Prefixes inside `uses` that are another command's business (serve reads all but these). */
  except?: readonly string[];
  /** Option prefixes it applies while running; a more specific `restart` entry wins. */
  live: readonly string[];
  /** Exceptions inside `live` that still need a restart, e.g. "smtp.hostname". */
  restart?: readonly string[];
}

export interface ReloadPlan {
  applied: string[];
  /** Changed options that take effect only at the next start. */
  restart: string[];
}

type Tree = Record<string, unknown>;

/** Leaf option paths whose values differ (arrays and records of records compared whole). */
export function changedPaths(before: unknown, after: unknown, prefix = ''): string[] {
  if (isTree(before) && isTree(after) && !isRecordSection(prefix)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].sort().flatMap((key) => changedPaths(before[key], after[key], join(prefix, key)));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}

export function planReload(before: Config, after: Config, spec: ReloadSpec): ReloadPlan {
  const plan: ReloadPlan = { applied: [], restart: [] };
  for (const changed of changedPaths(before, after)) {
    if (!spec.uses.some((p) => within(changed, p))) continue;
    if (spec.except?.some((p) => within(changed, p))) continue;
    const live = spec.live.some((p) => within(changed, p)) && !spec.restart?.some((p) => within(changed, p));
    (live ? plan.applied : plan.restart).push(changed);
  }
  return plan;
}

/** The new configuration with every restart-only change undone (the running value kept). */
export function forReload(before: Config, after: Config, restart: readonly string[]): Config {
  const next = structuredClone(after);
  for (const changed of restart) setPath(next as unknown as Tree, changed, getPath(before, changed));
  return next;
}

/** Writes `next` into `running`, keeping the identity of each section object. */
export function applyInPlace(running: Config, next: Config): void {
  const target = running as unknown as Tree;
  for (const [key, value] of Object.entries(next)) {
    const current = target[key];
    if (isTree(current) && isTree(value)) {
      for (const old of Object.keys(current)) if (!(old in value)) delete current[old];
      Object.assign(current, value);
    } else target[key] = value;
  }
}

function within(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}.`);
}

/** Records keyed by data (domain names with dots, pool names): compared as one value. */
function isRecordSection(path: string): boolean {
  return path === 'delivery.destinations' || path === 'delivery.ip_pools';
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

function getPath(tree: unknown, path: string): unknown {
  let node = tree;
  for (const key of path.split('.')) node = isTree(node) ? node[key] : undefined;
  return structuredClone(node);
}

function setPath(tree: Tree, path: string, value: unknown): void {
  const keys = path.split('.');
  let node = tree;
  for (const key of keys.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  const last = keys[keys.length - 1]!;
  if (value === undefined) delete node[last];
  else node[last] = value;
}
