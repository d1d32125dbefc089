/**
 * Loads configuration: schema defaults, then the YAML file (if any), then `-o key.path=value`
 * overrides, then validation. A bad file yields a ConfigError listing every bad key path and
 * what was expected, never a half-valid config.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigError } from './errors.js';
import { nearestOption } from './options.js';
import { type Config, configSchema } from './schema.js';

export { ConfigError };

export interface LoadOptions {
  file?: string | undefined;
  /** Raw `key.path=value` strings, as given after `-o`. */
  overrides?: string[];
}

export function loadConfig(options: LoadOptions = {}): Config {
  return validateConfig(loadRaw(options), options.file ?? '(defaults)');
}

/** The options as written: the file's, then the overrides', before defaults and validation. */
export function loadRaw(options: LoadOptions = {}): Record<string, unknown> {
  const raw = options.file ? readYaml(options.file) : {};
  for (const override of options.overrides ?? []) applyOverride(raw, override);
  return raw;
}

/** Validates options as written (loadRaw) into the configuration, or a ConfigError naming `source`. */
export function validateConfig(raw: Record<string, unknown>, source: string): Config {
  // The schema fills in defaults in place: validate a copy, `raw` stays what was written.
  const result = configSchema.safeParse(structuredClone(raw));
  if (!result.success) throw new ConfigError(source, result.error.issues.flatMap(describeIssue));
  const config = result.data;
  config.data_dir = path.resolve(config.data_dir);
  return config;
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(file, [`cannot read file: ${(error as Error).message}`]);
  }
  const doc = YAML.parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0)
    throw new ConfigError(
      file,
      doc.errors.map((e) => `YAML syntax: ${e.message}`),
    );
  const value = doc.toJS() as unknown;
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(file, ['the top level must be a mapping of options']);
  }
  return value as Record<string, unknown>;
}

/** Sets `a.b.c=value` in the raw tree; the value is read as YAML so `true`, `25` and `[a, b]` keep their types. */
export function applyOverride(raw: Record<string, unknown>, override: string): void {
  const eq = override.indexOf('=');
  if (eq <= 0) throw new ConfigError('-o', [`"${override}": expected key.path=value`]);
  const keyPath = override.slice(0, eq).split('.');
  // These would reach Object.prototype instead of an option.
  if (keyPath.some((key) => key === '__proto__' || key === 'constructor' || key === 'prototype'))
    throw new ConfigError('-o', [`"${override}": not an option`]);
  const value = parseOverrideValue(override.slice(eq + 1));
  let node: Record<string, unknown> = raw;
  for (const key of keyPath.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next))
      node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keyPath[keyPath.length - 1]!] = value;
}

function parseOverrideValue(text: string): unknown {
  try {
    const value = YAML.parse(text) as unknown;
    // "[host]:port" reads as a YAML mapping; a mapping is never a meaningful -o value, so keep the text.
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return text;
    return value === undefined ? text : value;
  } catch {
    return text;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length > 0 ? `${where}.` : '';
    const parent = issue.path.join('.');
    return issue.keys.map((k) => {
      const nearest = nearestOption(parent, k);
      return `${prefix}${k}: unknown option${nearest ? `; did you mean ${nearest}?` : ''}`;
    });
  }
  return [`${where}: ${issue.message}`];
}
