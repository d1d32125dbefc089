/**
 * Specifies the small RFC 2047 decoder used to show Subject and From in events: B and Q
 * encoded-words in any letter case, "_" as a space in Q, whitespace between adjacent encoded-words
 * dropped but kept around plain text, an unknown charset or broken word left as written; and
 * addressOf, which takes the address out of a From value.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressOf, decodeMimeWords } from '../../src/core/mime-words.js';

describe('decodeMimeWords', () => {
  test('decodes B and Q words, in either letter case', () => {
    assert.equal(decodeMimeWords('=?UTF-8?B?w4l0w6k=?='), 'Été');
    assert.equal(decodeMimeWords('=?utf-8?b?w4l0w6k=?='), 'Été');
    assert.equal(decodeMimeWords('=?ISO-8859-1?Q?Caf=E9_au_lait?='), 'Café au lait');
    assert.equal(decodeMimeWords('=?iso-8859-1?q?caf=e9?='), 'café');
  });

  test('whitespace between adjacent encoded words is dropped; around plain text it stays', () => {
    assert.equal(decodeMimeWords('=?UTF-8?Q?a?= =?UTF-8?Q?b?=\t=?UTF-8?Q?c?='), 'abc');
    assert.equal(decodeMimeWords('Re: =?UTF-8?Q?caf=C3=A9?= time'), 'Re: café time');
  });

  test('plain text is unchanged', () => {
    assert.equal(decodeMimeWords('Hello, world =? not a word'), 'Hello, world =? not a word');
  });

  test('an unknown charset leaves the word as written', () => {
    assert.equal(decodeMimeWords('=?x-no-such-charset?Q?abc?='), '=?x-no-such-charset?Q?abc?=');
  });

  test('a language suffix on the charset (RFC 2231) is ignored', () => {
    assert.equal(decodeMimeWords('=?UTF-8*en?Q?hi?='), 'hi');
  });
});

describe('addressOf', () => {
  test('takes the address in angle brackets, else the whole trimmed value', () => {
    assert.equal(addressOf('"Ann Example" <ann@example.test>'), 'ann@example.test');
    assert.equal(addressOf('  bob@example.test '), 'bob@example.test');
    assert.equal(addressOf('<>'), '');
  });
});
