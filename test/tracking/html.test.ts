/**
 * Specifies HTML rewriting: http(s) links in <a>/<area> become tracking URLs, opted-out links and
 * other schemes stay, data-msys-linkname names a link and leaves the output, each pixel appears
 * exactly once, and every character outside the rewritten values is kept — broken markup included.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type HtmlTrackingOptions, trackHtml } from '../../src/tracking/html.js';

function options(overrides: Partial<HtmlTrackingOptions> = {}) {
  const links: { url: string; name: string }[] = [];
  const opts: HtmlTrackingOptions = {
    open: true,
    click: true,
    trackLink: (url, name) => {
      links.push({ url, name });
      return `https://t.example/f/T${links.length - 1}`;
    },
    pixel: (kind) => `https://t.example/q/${kind}`,
    ...overrides,
  };
  return { opts, links };
}

const INITIAL = /<img src="https:\/\/t\.example\/q\/initial_open"[^>]*\/>/g;
const OPEN = /<img src="https:\/\/t\.example\/q\/open"[^>]*\/>/g;

/** Removes the pixels, so what is left can be compared with the input. */
const withoutPixels = (html: string) => html.replace(INITIAL, '').replace(OPEN, '');

describe('trackHtml', () => {
  test('rewrites http(s) hrefs of <a> and <area>, in any quoting and case', () => {
    const { opts, links } = options({ open: false });
    const src =
      '<p><A HREF="https://a.example/x?a=1&amp;b=2">a</A> <a href=\'http://b.example/\'>b</a> ' +
      '<a class=x href=https://c.example/y?q=1>c</a><map><area shape=rect href = "https://d.example/">' +
      '</map></p>';
    const { html, links: n } = trackHtml(src, opts);
    assert.equal(n, 4);
    assert.deepEqual(
      links.map((l) => l.url),
      ['https://a.example/x?a=1&b=2', 'http://b.example/', 'https://c.example/y?q=1', 'https://d.example/'],
    );
    assert.equal(
      html,
      '<p><A HREF="https://t.example/f/T0">a</A> <a href=\'https://t.example/f/T1\'>b</a> ' +
        '<a class=x href=https://t.example/f/T2>c</a><map><area shape=rect href = "https://t.example/f/T3">' +
        '</map></p>',
    );
  });

  test('mailto:, tel:, anchors, relative and other schemes are left alone', () => {
    const { opts, links } = options({ open: false });
    const src =
      '<a href="mailto:a@b.example">m</a><a href="tel:+123">t</a><a href="#top">#</a>' +
      '<a href="/relative">r</a><a href="ftp://f.example/">f</a><a href="javascript:x()">j</a>' +
      '<a name="x">n</a><a href>empty</a><img src="https://img.example/i.png"><link href="https://c.example/s.css">';
    assert.equal(trackHtml(src, opts).html, src);
    assert.equal(links.length, 0);
  });

  test('data-msys-clicktrack="0" opts a link out; data-msys-linkname names it and is removed', () => {
    const { opts, links } = options({ open: false });
    const src =
      '<a data-msys-clicktrack="0" href="https://keep.example/">k</a>' +
      '<a href="https://named.example/" data-msys-linkname="hero-button">n</a>' +
      `<a data-msys-linkname="${'x'.repeat(70)}" href="https://long.example/">l</a>`;
    const { html } = trackHtml(src, opts);
    assert.equal(
      html,
      '<a data-msys-clicktrack="0" href="https://keep.example/">k</a>' +
        '<a href="https://t.example/f/T0">n</a>' +
        '<a href="https://t.example/f/T1">l</a>',
    );
    assert.deepEqual(links[0], { url: 'https://named.example/', name: 'hero-button' });
    assert.equal(links[1]!.name, 'x'.repeat(63), 'names are cut to 63 bytes');
  });

  test('pixels: initial open right after <body>, open right before </body>, once each', () => {
    const { opts } = options({ click: false });
    const src =
      '<!DOCTYPE html><html><head><title>t</title></head><BODY style="x">\n<p>hi</p>\n</body></html>\n';
    const { html, pixels } = trackHtml(src, opts);
    assert.equal(pixels, 2);
    assert.equal(html.match(INITIAL)?.length, 1);
    assert.equal(html.match(OPEN)?.length, 1);
    assert.ok(html.indexOf('<BODY style="x">') + '<BODY style="x">'.length === html.search(INITIAL));
    assert.ok(html.search(OPEN) + html.match(OPEN)![0].length === html.indexOf('</body>'));
    assert.equal(withoutPixels(html), src);
  });

  test('no <body> or </body>: the pixels go at the start and the end', () => {
    const { opts } = options({ click: false });
    const src = '<p>fragment <b>unclosed';
    const { html } = trackHtml(src, opts);
    assert.ok(html.startsWith('<img src="https://t.example/q/initial_open"'));
    assert.match(html, /<img src="https:\/\/t\.example\/q\/open"[^>]*\/>$/);
    assert.equal(withoutPixels(html), src);
  });

  test('broken markup is kept exactly as it was around the edits', () => {
    const { opts, links } = options();
    const src =
      '<body><table><tr><td><a href="https://a.example/"<b>x</td></tr><p <a href=https://b.example/>' +
      '<div class="unterminated><a href="https://c.example/">c</a><!-- <a href="https://in-comment.example/"> -->' +
      '<!--[if mso]><a href="https://mso.example/">o</a><![endif]--><a href="https://d.example/"';
    const { html } = trackHtml(src, opts);
    assert.ok(!links.some((l) => l.url.includes('in-comment')), 'links in comments are not markup');
    let restored = withoutPixels(html);
    for (let i = links.length - 1; i >= 0; i--)
      restored = restored.replace(`https://t.example/f/T${i}`, links[i]!.url);
    assert.equal(restored, src);
  });

  test('a 1 MB single-line document with thousands of links', () => {
    const { opts, links } = options();
    const unit = '<td><a href="https://shop.example/item?id=N">item</a> some text &amp; more</td>';
    const count = Math.ceil(1_048_576 / unit.length);
    const src = `<html><body><table><tr>${Array.from({ length: count }, (_, i) => unit.replace('N', String(i))).join('')}</tr></table></body></html>`;
    const { html, links: n } = trackHtml(src, opts);
    assert.equal(n, count);
    assert.equal(links[count - 1]!.url, `https://shop.example/item?id=${count - 1}`);
    assert.equal(html.match(INITIAL)?.length, 1);
    assert.equal(html.match(OPEN)?.length, 1);
    assert.ok(!html.includes('\n'));
  });

  test('the decode hook reads link targets in the part charset', () => {
    // "ü" in ISO-8859-1 is the single byte 0xFC; the source is a byte string.
    const latin1 = Buffer.from('<a href="https://b.example/m\xfcller">x</a>', 'latin1').toString('latin1');
    const { opts, links } = options({
      open: false,
      decode: (raw) => new TextDecoder('iso-8859-1').decode(Buffer.from(raw, 'latin1')),
    });
    trackHtml(latin1, opts);
    assert.equal(links[0]!.url, 'https://b.example/müller');
  });

  test('with open and click both off nothing changes', () => {
    const { opts } = options({ open: false, click: false });
    const src = '<body><a href="https://a.example/">a</a></body>';
    assert.deepEqual(trackHtml(src, opts), { html: src, links: 0, pixels: 0 });
  });
});
