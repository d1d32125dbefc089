/**
 * Specifies the transmission composer: recipients sharing a rendering get the same body under
 * their own To and Message-ID; personalised content differs; names are quoted or RFC 2047
 * encoded; CR/LF in a name or header_to cannot add a header; content.headers cannot override
 * From, To, Subject or Message-ID.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { TransmissionComposer, toHeader } from '../../src/core/compose.js';

const content = {
  from: { email: 'shop@shop.example', name: 'The Shop' },
  subject: 'Hello {{name}}',
  text: 'Body for {{name}}',
  headers: { 'X-Campaign': 'spring', To: 'evil@attacker.example', 'Message-ID': '<fixed@x>' },
};

test('shared rendering: same body, own To and Message-ID per recipient', async () => {
  const composer = new TransmissionComposer(content);
  const a = await simpleParser(await composer.compose({ email: 'a@one.example' }, [{ name: 'all' }], 'id1'));
  const b = await simpleParser(
    await composer.compose({ email: 'b@two.example', name: 'Bea' }, [{ name: 'all' }], 'id2'),
  );
  assert.equal(a.subject, 'Hello all');
  assert.equal(a.text, b.text);
  assert.equal((a.to as { text: string }).text, 'a@one.example');
  assert.equal((b.to as { text: string }).text, '"Bea" <b@two.example>');
  assert.notEqual(a.messageId, b.messageId);
  assert.match(a.messageId ?? '', /^<id1\.[0-9a-f]{8}@shop\.example>$/);
  assert.equal(a.headers.get('x-campaign'), 'spring');
  assert.equal((a.from as { text: string }).text, '"The Shop" <shop@shop.example>');
});

test('personalised content is composed per recipient', async () => {
  const composer = new TransmissionComposer(content);
  const a = await simpleParser(await composer.compose({ email: 'a@one.example' }, [{ name: 'Ann' }], 'x1'));
  const b = await simpleParser(await composer.compose({ email: 'b@two.example' }, [{ name: 'Ben' }], 'x2'));
  assert.equal(a.text?.trim(), 'Body for Ann');
  assert.equal(b.text?.trim(), 'Body for Ben');
});

test('To: quoting, RFC 2047 for non-ASCII names, no header injection through names or header_to', async () => {
  assert.equal(toHeader({ email: 'a@b.example', name: 'A "Q" Z' }), '"A \\"Q\\" Z" <a@b.example>');
  const encoded = toHeader({ email: 'a@b.example', name: 'Zoë Ångström' });
  assert.match(encoded, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?= <a@b\.example>$/);
  const parsed = await simpleParser(`To: ${encoded}\r\n\r\n`);
  assert.equal((parsed.to as { value: { name: string }[] }).value[0]!.name, 'Zoë Ångström');
  assert.ok(!toHeader({ email: 'a@b.example', name: 'x\r\nBcc: victim@c.example' }).includes('\r\n'));
  assert.ok(!toHeader({ email: 'a@b.example', headerTo: 'x@y.example\r\nBcc: v@c.example' }).includes('\n'));
});
