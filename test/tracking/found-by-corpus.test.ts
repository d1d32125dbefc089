/**
 * Specifies the fixes the corpus led to, each at the unit that owns it:
 *  - windows-1252 (and the labels read as it: iso-8859-1, us-ascii) decodes 0x80-0x9F as € “ ” –
 *    (Node 20's TextDecoder reads them as C1 controls), so link names and targets come out right;
 *  - a text/plain URL glued to a non-ASCII letter (an IRI) is left as written, not cut short;
 *  - an HTML document ending inside an unterminated comment or tag gets its open pixel before
 *    that tail, where it is seen, not inside it;
 *  - the tracking server's Location header percent-encodes non-ASCII and spaces (Node refuses
 *    them in a header, which answered 500 instead of the redirect).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { locationOf } from '../../src/http/tracking-routes.js';
import { charsetDecoder } from '../../src/tracking/encoding.js';
import { trackHtml } from '../../src/tracking/html.js';
import { trackText } from '../../src/tracking/text.js';

const decode = (charset: string, bytes: number[]) => {
  const decoder = charsetDecoder(charset);
  assert.notEqual(typeof decoder, 'string', charset);
  return (decoder as Exclude<typeof decoder, string>).decode(Buffer.from(bytes));
};

describe('found by the corpus', () => {
  test('windows-1252 and its aliases decode 0x80-0x9F with the windows-1252 table', () => {
    for (const charset of ['windows-1252', 'cp1252', 'iso-8859-1', 'latin1', 'us-ascii'])
      assert.equal(decode(charset, [0x80, 0x93, 0x94, 0x96, 0x99, 0xe9, 0x41]), '€“”–™éA', charset);
    // Other single-byte charsets keep their own tables.
    assert.equal(decode('windows-1251', [0x80, 0xe9]), 'Ђй');
    assert.equal(decode('iso-8859-15', [0xa4]), '€');
  });

  test('a text URL followed directly by a non-ASCII byte is not tracked', () => {
    const src = 'a https://x.example/\u00fc b https://x.example/ok c';
    const tracked: string[] = [];
    const r = trackText(src, (url) => {
      tracked.push(url);
      return 'T';
    });
    assert.deepEqual(tracked, ['https://x.example/ok']);
    assert.equal(r.text, 'a https://x.example/\u00fc b T c');
  });

  test('the open pixel goes before an unterminated comment or tag at the end, not into it', () => {
    const opts = {
      open: true,
      click: false,
      trackLink: () => '',
      pixel: (kind: string) => `https://t.example/q/${kind}`,
    };
    const pixelAt = (src: string) => trackHtml(src, opts).html.indexOf('q/open');
    for (const tail of [
      '<!-- never closed <a href="https://x.example/">',
      '<a href="https://x.example/',
      '<!--',
    ]) {
      const src = `<p>Hello</p>\n${tail}`;
      const html = trackHtml(src, opts).html;
      assert.ok(html.endsWith(tail), 'the tail is kept as it was');
      assert.ok(pixelAt(src) < html.length - tail.length, `pixel before ${JSON.stringify(tail)}`);
    }
    // A complete document without </body> still gets the pixel at the very end.
    assert.match(trackHtml('<p>x</p><!-- closed -->\r\n', opts).html, /q\/open"[^>]*\/>$/);
  });

  test('Location: non-ASCII and spaces percent-encoded as UTF-8, everything else kept', () => {
    assert.equal(
      locationOf('https://bücher.example/straße?q=ä b#😀'),
      'https://b%C3%BCcher.example/stra%C3%9Fe?q=%C3%A4%20b#%F0%9F%98%80',
    );
    const ascii = 'HTTPS://Old.Example:443/a/../b?x=%41&y=1#f';
    assert.equal(locationOf(ascii), ascii);
  });
});
