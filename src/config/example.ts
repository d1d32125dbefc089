/**
 * Renders the documented example configuration from the schema itself: every option, its
 * default and its description. contrib/sluice.example.yaml is this output, checked by a test.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  anyOf?: JsonSchema[];
}

export function renderExample(): string {
  const root = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const lines = [
    '# Sluice configuration: every option with its default.',
    '# Generated from the schema (sluice config example); edit what you need, delete the rest.',
    '# Durations: a number of seconds or "500ms", "30s", "5m", "72h", "7d".',
    '# Sizes: a number of bytes or "512KB", "25MB", "1GB" (a KB is 1024 bytes: 25MB = 26214400).',
    '',
  ];
  render(root, 0, lines);
  return `${lines.join('\n')}\n`;
}

function render(schema: JsonSchema, depth: number, out: string[]): void {
  const indent = '  '.repeat(depth);
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (child.properties) {
      if (depth === 0) out.push('');
      if (child.description) out.push(`${indent}# ${child.description}`);
      out.push(`${indent}${key}:`);
      render(child, depth + 1, out);
      continue;
    }
    if (child.description) out.push(`${indent}# ${child.description}`);
    out.push(`${indent}${key}: ${yamlValue(child.default)}`);
  }
}

function yamlValue(value: unknown): string {
  if (value === undefined || value === null) return 'null';
  if (Array.isArray(value)) return `[${value.map(yamlValue).join(', ')}]`;
  if (typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}: ${yamlValue(v)}`)
      .join(', ')}}`;
  if (typeof value === 'string')
    return /^[\w./-]+$/.test(value) && !/^(true|false|null|\d.*)$/.test(value)
      ? value
      : JSON.stringify(value);
  return String(value);
}
