/**
 * The options the schema defines, as a tree read from the schema itself (its JSON Schema, input
 * side: defaults as written, "5m" rather than 300000): sections and their options with their
 * defaults and descriptions. `sluice config show` lists them, and an unknown key gets the nearest
 * known name ("did you mean submission?").
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

export interface OptionNode {
  /** Dotted path, e.g. "listen.smtp". */
  path: string;
  description?: string;
  default?: unknown;
  /** A section's options; absent for an option (a leaf, whatever its value's shape). */
  children?: OptionNode[];
}

interface JsonSchema {
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
}

let root: OptionNode | null = null;

export function optionTree(): OptionNode {
  root ??= build(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema, '');
  return root;
}

function build(schema: JsonSchema, path: string): OptionNode {
  const node: OptionNode = { path };
  if (schema.description) node.description = schema.description;
  if (schema.properties) {
    node.children = Object.entries(schema.properties).map(([key, child]) =>
      build(child, path ? `${path}.${key}` : key),
    );
  } else if ('default' in schema) node.default = schema.default;
  return node;
}

/** The node at a dotted path, or null. */
export function findOption(path: string): OptionNode | null {
  let node: OptionNode | undefined = optionTree();
  for (const key of path.split('.')) {
    node = node?.children?.find((child) => child.path.split('.').at(-1) === key);
    if (!node) return null;
  }
  return node;
}

/** Every option (leaf) under a node, in schema order. */
export function leavesOf(node: OptionNode): OptionNode[] {
  return node.children ? node.children.flatMap(leavesOf) : [node];
}

/**
 * The nearest known name for an unknown `key` under section `parent` ("" for the top level): a
 * sibling a couple of typos away, else an option elsewhere with that very name
 * (`max_message_size` at the top level: smtp.max_message_size). Null when nothing is close.
 */
export function nearestOption(parent: string, key: string): string | null {
  const section = parent ? findOption(parent) : optionTree();
  const siblings = (section?.children ?? []).map((child) => child.path);
  let best: { path: string; distance: number } | null = null;
  for (const path of siblings) {
    const distance = editDistance(key.toLowerCase(), path.split('.').at(-1)!.toLowerCase());
    if (!best || distance < best.distance) best = { path, distance };
  }
  if (best && best.distance <= Math.max(1, Math.min(3, Math.floor(key.length / 3)))) return best.path;
  const elsewhere = allPaths(optionTree()).find((path) => path.split('.').at(-1) === key);
  return elsewhere ?? null;
}

function allPaths(node: OptionNode): string[] {
  return (node.children ?? []).flatMap((child) => [child.path, ...allPaths(child)]);
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
