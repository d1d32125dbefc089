/**
 * Bad input for the template engine: templates made of random pieces of its syntax (braces,
 * keywords, operators, quotes, unbalanced blocks, binary bytes), truncated at random, rendered
 * with random data. Whatever comes in, compiling either succeeds or throws TemplateError, and
 * rendering either returns a string or throws TemplateError: nothing else escapes (a request
 * never turns into a 500 or a crash). Seeded, so a failure is reproducible.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePart, type PartKind, TemplateError } from '../../src/core/template/index.js';

const PIECES = [
  '{{',
  '}}',
  '{{{',
  '}}}',
  ' ',
  '\n',
  'if ',
  'elseif ',
  'else',
  'end',
  'each ',
  'then',
  'not ',
  'and ',
  'or ',
  '#',
  '==',
  '!=',
  '<',
  '>=',
  '(',
  ')',
  '[',
  ']',
  '.',
  ',',
  "'",
  '"',
  '\\',
  'x',
  'loop_var',
  'loop_vars',
  'items',
  'n',
  '1',
  '-2.5e3',
  'nil',
  'true',
  'empty(',
  'render_dynamic_content(',
  'dynamic_html',
  'opening_double_curly()',
  'https://a.example/?q=',
  '<template type="amp-mustache">',
  '</template>',
  '\u0000',
  '\uffff',
  '💥',
];

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DATA = [
  {},
  { x: 1, n: 'text', items: [1, 'a', null, { x: [] }] },
  { items: { not: 'an array' }, x: null, n: [[]] },
  { dynamic_html: { x: '{{if}}', n: '{{ x }}' }, items: ['x', 'n'] },
];

test('random templates compile or fail with TemplateError; rendering never throws anything else', () => {
  const next = random(20_260_301);
  const kinds: PartKind[] = ['html', 'text', 'amp_html', 'header'];
  let compiled = 0;
  let rendered = 0;
  for (let i = 0; i < 3000; i++) {
    const length = 1 + Math.floor(next() * 30);
    let source = '';
    for (let j = 0; j < length; j++) source += PIECES[Math.floor(next() * PIECES.length)];
    if (next() < 0.2) source = source.slice(0, Math.floor(next() * source.length));
    const kind = kinds[i % kinds.length]!;
    let part: ReturnType<typeof compilePart>;
    try {
      part = compilePart(source, kind, kind);
      compiled++;
    } catch (error) {
      assert.ok(error instanceof TemplateError, `compile ${JSON.stringify(source)}: ${String(error)}`);
      continue;
    }
    for (const data of DATA) {
      try {
        const out = part.render({ scopes: [data], dynamic: data }, 10_000);
        assert.equal(typeof out, 'string');
        rendered++;
      } catch (error) {
        assert.ok(error instanceof TemplateError, `render ${JSON.stringify(source)}: ${String(error)}`);
      }
    }
  }
  // The generator must reach both sides, or the test would prove nothing.
  assert.ok(compiled > 100 && rendered > 100, `compiled ${compiled}, rendered ${rendered}`);
});
