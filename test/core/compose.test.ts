/**
 * Specifies the transmission composer: recipients sharing a rendering get the same body under
 * their own To and Message-ID; personalised content differs; names are quoted or RFC 2047
 * encoded; CR/LF in a name, header_to or rendered value cannot add a header; content.headers
 * that the composer owns are refused, not dropped; amp_html becomes a text/x-amp-html part;
 * inline_css moves <style> rules into style attributes; a templated From is parsed after
 * rendering; email_rfc822 gets the template language in its top-level headers and first text
 * parts only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { parseMailbox, TransmissionComposer, toHeader } from '../../src/core/compose.js';
import { TemplateError } from '../../src/core/template/index.js';

const content = {
  from: { email: 'shop@shop.example', name: 'The Shop' },
  subject: 'Hello {{name}}',
  text: 'Body for {{name}}',
  headers: { 'X-Campaign': 'spring-{{name}}' },
};
const data = (scope: Record<string, unknown>) => ({ scopes: [scope] });
const parse = async (composed: Promise<{ bytes: Buffer }>) => simpleParser((await composed).bytes);

test('shared rendering: same body, own To and Message-ID per recipient', async () => {
  const composer = new TransmissionComposer(content);
  const a = await parse(composer.compose({ email: 'a@one.example' }, data({ name: 'all' }), 'id1'));
  const b = await parse(
    composer.compose({ email: 'b@two.example', name: 'Bea' }, data({ name: 'all' }), 'id2'),
  );
  assert.equal(a.subject, 'Hello all');
  assert.equal(a.text, b.text);
  assert.equal((a.to as { text: string }).text, 'a@one.example');
  assert.equal((b.to as { text: string }).text, '"Bea" <b@two.example>');
  assert.notEqual(a.messageId, b.messageId);
  assert.match(a.messageId ?? '', /^<id1\.[0-9a-f]{8}@shop\.example>$/);
  assert.equal(a.headers.get('x-campaign'), 'spring-all');
  assert.equal((a.from as { text: string }).text, '"The Shop" <shop@shop.example>');
});

test('personalised content is composed per recipient', async () => {
  const composer = new TransmissionComposer(content);
  const a = await parse(composer.compose({ email: 'a@one.example' }, data({ name: 'Ann' }), 'x1'));
  const b = await parse(composer.compose({ email: 'b@two.example' }, data({ name: 'Ben' }), 'x2'));
  assert.equal(a.text?.trim(), 'Body for Ann');
  assert.equal(b.text?.trim(), 'Body for Ben');
});

test('headers the composer owns are refused with the header named, not silently dropped', () => {
  for (const name of ['To', 'from', 'Message-ID', 'Content-Type', 'Subject', 'Reply-To']) {
    assert.throws(
      () => new TransmissionComposer({ ...content, headers: { [name]: 'x' } }),
      (error: unknown) => error instanceof TemplateError && error.part === `Header:${name}`,
    );
  }
});

test('a syntax error in any part is a compile error naming the part; a bad rendered From a render error', async () => {
  assert.throws(
    () => new TransmissionComposer({ ...content, html: '<p>\n{{if x}}' }),
    (error: unknown) => error instanceof TemplateError && error.part === 'html' && error.line === 2,
  );
  assert.throws(
    () => new TransmissionComposer({ ...content, subject: '{{ a +' }),
    (error: unknown) => error instanceof TemplateError && error.part === 'Header:Subject',
  );
  const templated = new TransmissionComposer({ ...content, from: '{{sender}} <{{box}}@shop.example>' });
  const ok = await templated.compose({ email: 'a@x.example' }, data({ sender: 'Sales', box: 'sales' }), 'f1');
  assert.equal(ok.from, 'sales@shop.example');
  assert.equal(
    ((await simpleParser(ok.bytes)).from as { text: string }).text,
    '"Sales" <sales@shop.example>',
  );
  await assert.rejects(
    templated.compose({ email: 'a@x.example' }, data({ sender: 'x' }), 'f2'),
    (error: unknown) =>
      error instanceof TemplateError && error.phase === 'rendering' && error.part === 'Header:From',
  );
});

test('amp_html is a text/x-amp-html alternative; inline_css inlines the <style> rules', async () => {
  const composer = new TransmissionComposer(
    {
      from: 'a@shop.example',
      subject: 's',
      text: 't',
      html: '<html><head><style>p { color: red }</style></head><body><p>{{who}}</p></body></html>',
      amp_html: '<!doctype html><html ⚡4email><body>{{who}}</body></html>',
    },
    { inlineCss: true },
  );
  const { bytes } = await composer.compose({ email: 'b@x.example' }, data({ who: 'Zed' }), 'amp1');
  const raw = bytes.toString('utf8');
  assert.match(raw, /Content-Type: text\/x-amp-html; charset=utf-8/);
  const parsed = await simpleParser(bytes);
  assert.match(String(parsed.html), /<p style="color: red;">Zed<\/p>/);
  assert.doesNotMatch(String(parsed.html), /<style>/);
  const plain = new TransmissionComposer({
    from: 'a@shop.example',
    subject: 's',
    html: '<style>p{color:red}</style><p>x</p>',
  });
  const untouched = await simpleParser((await plain.compose({ email: 'b@x.example' }, data({}), 'c1')).bytes);
  assert.match(
    String(untouched.html),
    /<style>p\{color:red\}<\/style><p>x<\/p>/,
    'without inline_css nothing moves',
  );
});

test('To: quoting, RFC 2047 for non-ASCII names, no header injection through names or header_to', async () => {
  assert.equal(toHeader({ email: 'a@b.example', name: 'A "Q" Z' }), '"A \\"Q\\" Z" <a@b.example>');
  const encoded = toHeader({ email: 'a@b.example', name: 'Zoë Ångström' });
  assert.match(encoded, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?= <a@b\.example>$/);
  const parsed = await simpleParser(`To: ${encoded}\r\n\r\n`);
  assert.equal((parsed.to as { value: { name: string }[] }).value[0]!.name, 'Zoë Ångström');
  assert.ok(!toHeader({ email: 'a@b.example', name: 'x\r\nBcc: victim@c.example' }).includes('\r\n'));
  assert.ok(!toHeader({ email: 'a@b.example', headerTo: 'x@y.example\r\nBcc: v@c.example' }).includes('\n'));
  const composer = new TransmissionComposer(content);
  const { bytes } = await composer.compose(
    { email: 'a@x.example' },
    data({ name: 'x\r\nBcc: v@c.example' }),
    'i1',
  );
  const headerSection = bytes.toString().split('\r\n\r\n')[0]!;
  assert.doesNotMatch(headerSection, /^Bcc:/m, 'a rendered value cannot start a header');
});

test('parseMailbox reads address, <address> and "Name" <address>', () => {
  assert.deepEqual(parseMailbox('a@b.example'), { address: 'a@b.example', name: '' });
  assert.deepEqual(parseMailbox('Team <a@b.example>'), { address: 'a@b.example', name: 'Team' });
  assert.deepEqual(parseMailbox('"Big, Team" <a@b.example>'), { address: 'a@b.example', name: 'Big, Team' });
  assert.equal(parseMailbox('not an address'), null);
});

test('email_rfc822: top-level headers and the first text/plain and text/html parts, nothing else', async () => {
  const raw = [
    'From: shop@shop.example',
    'To: "{{address.name}}" <{{address.email}}>',
    'Subject: =?UTF-8?B?SGVsbG8ge3tuYW1lfX0=?=',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    '--b1',
    'Content-Type: multipart/alternative; boundary="b2"',
    '',
    '--b2',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    'Hi {{name}}',
    '--b2',
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    '<p>Hi {{name}} =E2=9C=93</p>',
    '--b2--',
    '--b1',
    'Content-Type: text/plain; name="keep.txt"',
    'Content-Disposition: attachment; filename="keep.txt"',
    '',
    'literal {{name}} stays',
    '--b1--',
    '',
  ].join('\n');
  const composer = new TransmissionComposer({ email_rfc822: raw });
  const { bytes } = await composer.compose(
    { email: 'zoe@x.example' },
    { scopes: [{ name: 'Zoë' }], reserved: { address: { email: 'zoe@x.example', name: 'Zoe Z' } } },
    'r1',
  );
  const parsed = await simpleParser(bytes);
  assert.equal(parsed.subject, 'Hello Zoë');
  assert.equal((parsed.to as { text: string }).text, '"Zoe Z" <zoe@x.example>');
  assert.equal(parsed.text?.trim(), 'Hi Zoë');
  assert.equal(String(parsed.html).trim(), '<p>Hi Zoë ✓</p>');
  assert.equal(parsed.attachments[0]?.content.toString(), 'literal {{name}} stays');
  const composed = await composer.compose({ email: 'zoe@x.example' }, { scopes: [{ name: 'x' }] }, 'r0');
  assert.equal(composed.from, 'shop@shop.example', "the From field: the envelope sender's default");
  const untouched = new TransmissionComposer({ email_rfc822: 'Subject: x\r\n\r\nno tags\r\n' });
  assert.equal(
    (await untouched.compose({ email: 'a@b.example' }, data({}), 'r2')).bytes.toString(),
    'Subject: x\r\n\r\nno tags\r\n',
  );
});
