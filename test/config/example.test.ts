/**
 * Specifies the documented example configuration: contrib/sluice.example.yaml is exactly what
 * renderExample() produces from the schema (regenerate it with
 * `node bin/sluice.js config example > contrib/sluice.example.yaml`), it loads without error, and
 * loading it gives the same configuration as loading no file at all, because it lists every option
 * with its default. So docs and behaviour cannot drift apart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { renderExample } from '../../src/config/example.js';
import { loadConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';

// This file runs from dist/test/config/; the repository root is three levels up.
const EXAMPLE = fileURLToPath(new URL('../../../contrib/sluice.example.yaml', import.meta.url));

describe('contrib/sluice.example.yaml', () => {
  test('is exactly the output of renderExample() (regenerate with `sluice config example`)', () => {
    assert.ok(fs.existsSync(EXAMPLE), `${EXAMPLE} is missing`);
    assert.equal(fs.readFileSync(EXAMPLE, 'utf8'), renderExample());
  });

  test('loads without error and gives exactly the defaults', () => {
    assert.deepEqual(loadConfig({ file: EXAMPLE }), loadConfig());
  });
});

describe('renderExample', () => {
  const text = renderExample();
  const parsed = YAML.parse(text) as Record<string, Record<string, unknown> | unknown>;

  test('is valid YAML naming every section and every option of the schema', () => {
    const shape = configSchema.shape as Record<string, unknown>;
    assert.deepEqual(Object.keys(parsed).sort(), Object.keys(shape).sort());
    const defaults = loadConfig() as unknown as Record<string, unknown>;
    for (const [section, value] of Object.entries(defaults)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
      assert.deepEqual(
        Object.keys(parsed[section] as object).sort(),
        Object.keys(value).sort(),
        `options of ${section}`,
      );
    }
  });

  test('documents each option with a comment line above it', () => {
    const lines = text.split('\n');
    for (const [i, line] of lines.entries()) {
      if (/^\s+\w+: /.test(line)) assert.match(lines[i - 1]!, /^\s*# \S/, `no comment above "${line}"`);
    }
  });

  test('writes durations as they are read (strings such as "5m"), not as milliseconds', () => {
    assert.equal((parsed.smtp as Record<string, unknown>).idle_timeout, '5m');
    assert.deepEqual((parsed.delivery as Record<string, unknown>).retry_schedule, [
      '1m',
      '5m',
      '15m',
      '30m',
      '1h',
      '2h',
      '4h',
    ]);
  });
});
