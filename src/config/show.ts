/**
 * `sluice config show` (postconf): the effective configuration as `option.path = value` lines,
 * values as written (durations and sizes in the units given, defaults as the example file shows
 * them), data_dir as Sluice resolves it. All options, only those the file or -o set (-n, as
 * postconf -n), or the named ones (an option, or a section for all of its options).
 */

import { findOption, leavesOf, nearestOption, type OptionNode, optionTree } from './options.js';
import type { Config } from './schema.js';

export class UnknownOptionError extends Error {}

export interface ShowOptions {
  /** Only options set in the file or by -o. */
  nonDefault?: boolean;
  /** Dotted option or section names; none: every option. */
  names?: string[];
}

export function showConfig(
  raw: Record<string, unknown>,
  config: Config,
  options: ShowOptions = {},
): string[] {
  const nodes = (options.names?.length ? options.names : ['']).flatMap((name) => {
    if (name === '') return leavesOf(optionTree());
    const node = findOption(name);
    if (!node) {
      const dot = name.lastIndexOf('.');
      const nearest = nearestOption(dot < 0 ? '' : name.slice(0, dot), name.slice(dot + 1));
      throw new UnknownOptionError(`unknown option "${name}"${nearest ? `; did you mean ${nearest}?` : ''}`);
    }
    return leavesOf(node);
  });
  const lines: string[] = [];
  for (const node of nodes) {
    const written = valueAt(raw, node.path);
    if (options.nonDefault && written === undefined) continue;
    const value = node.path === 'data_dir' ? config.data_dir : written === undefined ? node.default : written;
    lines.push(`${node.path} = ${formatValue(value)}`);
  }
  return lines;
}

function valueAt(tree: Record<string, unknown>, path: string): unknown {
  let value: unknown = tree;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  }
  return value;
}

/** A value as YAML flow (what `-o` and the file take back): strings bare unless they need quotes. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(formatValue).join(', ')}]`;
  if (typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${formatValue(v)}`)
      .join(', ')}}`;
  if (typeof value === 'string')
    return /^[\w./@-][\w./@:[\]-]*$/.test(value) && !/^(true|false|null|~|\d[\d.]*)$/i.test(value)
      ? value
      : JSON.stringify(value);
  return String(value);
}

export type { OptionNode };
