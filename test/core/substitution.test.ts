/**
 * Specifies SparkPost's basic substitution: recipient data before transmission data, dotted paths,
 * unknown keys empty, HTML-escaped `{{x}}` and raw `{{{x}}}` in HTML, nothing evaluated.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { substitute } from '../../src/core/substitution.js';

test('recipient data wins over transmission data; unknown keys render empty', () => {
  const out = substitute('Hi {{ name }}, {{city}}{{nope}}!', [
    { name: 'Ann' },
    { name: 'all', city: 'Oslo' },
  ]);
  assert.equal(out, 'Hi Ann, Oslo!');
});

test('dotted paths reach nested values; objects render as JSON; no prototype lookups', () => {
  const data = { user: { first: 'Bo', tags: ['a'] }, n: 0 };
  assert.equal(substitute('{{user.first}} {{user.tags}} {{n}}', [data]), 'Bo ["a"] 0');
  assert.equal(substitute('[{{constructor}}][{{user.toString}}][{{__proto__}}]', [data]), '[][][]');
});

test('in HTML, {{x}} is escaped and {{{x}}} is inserted as is; text mode never escapes', () => {
  const data = { x: '<b>"Tom" & Jerry</b>' };
  assert.equal(
    substitute('{{x}}|{{{x}}}', [data], 'html'),
    '&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;|<b>"Tom" & Jerry</b>',
  );
  assert.equal(substitute('{{x}}', [data]), '<b>"Tom" & Jerry</b>');
});

test('what is not a tag stays: expressions, empty braces, unbalanced braces', () => {
  const text = '{{ 1 + 1 }} {{}} {{name {{{ }}';
  assert.equal(substitute(text, [{ name: 'x' }]), text);
});
