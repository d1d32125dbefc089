/**
 * Specifies the tracking transform over the fixture corpus (test/fixtures/tracking), one case per
 * message, with the expectations as data: NAME.json beside NAME.eml says which links must be
 * tracked (original URL and link name, in message order), how many HTML parts get pixels, which
 * URLs must stay as written, which reasons must be reported, and whether the message must come
 * out byte for byte as it went in. For each fixture the message is rewritten (open and click on),
 * both versions are parsed with mailparser, and:
 *  - every tracked link is followed through the real tracking server (fastify on a loopback port,
 *    embedded store): 302 to exactly the original URL, and a click event with its name recorded;
 *  - every pixel answers the GIF; each HTML part has each pixel once, initial_open right after
 *    <body> and open right before </body>;
 *  - no data-msys-linkname is left; links that are not tracked keep their href; no link is lost;
 *  - attachments and inline images are identical by hash, type, name and Content-ID.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DomUtils, parseDocument } from 'htmlparser2';
import { type ParsedMail, simpleParser } from 'mailparser';
import { configSchema } from '../../src/config/schema.js';
import { type HttpServer, startHttpServer } from '../../src/http/server.js';
import { PIXEL_GIF } from '../../src/http/tracking-routes.js';
import { createLogger } from '../../src/log.js';
import { openStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';
import { type TrackingOptions, trackMessage } from '../../src/tracking/mime.js';
import { type TokenPayload, TokenSigner } from '../../src/tracking/token.js';

export const FIXTURES = path.resolve(import.meta.dirname, '../../../test/fixtures/tracking');
const BASE = 'https://t.example';
const CLICK = /https:\/\/t\.example\/f\/([A-Za-z0-9_-]+)/g;
const PIXEL = /https:\/\/t\.example\/q\/([A-Za-z0-9_-]+)/g;
const PIXEL_TOKEN = /\/q\/([A-Za-z0-9_-]+)/;
const PIXEL_IMG = '<img src="https://t\\.example/q/([A-Za-z0-9_-]+)"[^>]*/>';

interface Manifest {
  about: string;
  /** Tracked links in message order: the original URL, or {url, name} for a named link. */
  links: (string | { url: string; name: string })[];
  /** HTML parts that must carry both pixels. */
  htmlParts: number;
  /** Hrefs or text URLs that must come out exactly as often as they went in. */
  untracked?: string[];
  /** Patterns the reported reasons must match, one reason each; no reason when absent. */
  reasons?: string[];
  /** The output must equal the input byte for byte. */
  untouched?: boolean;
}

const signer = new TokenSigner([{ id: 'c1', secret: 'corpus-secret-0123456789' }], 86_400_000);
const names = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.eml'))
  .map((f) => f.slice(0, -4))
  .sort();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const messageIdOf = (name: string) => sha(Buffer.from(name)).slice(0, 20);

let dataDir: string;
let stores: Stores;
let server: HttpServer;

before(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-corpus-'));
  stores = await openStores(configSchema.parse({ data_dir: dataDir }));
  const deps = { signer, events: stores.events, log: createLogger('silent') };
  server = await startHttpServer({ listen: '127.0.0.1:0', trustedProxies: [] }, deps);
});

after(async () => {
  await server?.close();
  await stores?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('the tracking corpus', () => {
  test('has at least 30 messages, each with a manifest', () => {
    assert.ok(names.length >= 30, `${names.length} fixtures`);
    for (const name of names) assert.ok(manifest(name).about, name);
  });

  for (const name of names) {
    test(name, async () => {
      const expected = manifest(name);
      const original = readFileSync(path.join(FIXTURES, `${name}.eml`));
      const options: TrackingOptions = {
        open: true,
        click: true,
        baseUrl: BASE,
        signer,
        messageId: messageIdOf(name),
        rcpt: 'alice@one.example',
        maxPartSize: 5_242_880,
      };
      const result = await trackMessage(original, options);
      checkReasons(result.reasons, expected.reasons ?? []);
      if (expected.untouched) {
        assert.equal(result.tracked, false);
        assert.ok(result.message.equals(original), 'output is the input, byte for byte');
        return;
      }
      assert.equal(result.links, expected.links.length, 'links tracked');
      assert.equal(result.pixels, 2 * expected.htmlParts, 'pixels added');

      const was = await simpleParser(original);
      const now = await simpleParser(result.message);
      assert.equal(now.subject, was.subject);
      assert.deepEqual(attachments(now), attachments(was), 'attachments identical');
      await checkLinks(now, was, expected, options.messageId);
      await checkPixels(now, expected.htmlParts);
      checkHrefs(now, was, expected);
    });
  }
});

function manifest(name: string): Manifest {
  return JSON.parse(readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Manifest;
}

/** Every reason matches a pattern and every pattern matches a reason. */
function checkReasons(reasons: string[], patterns: string[]): void {
  const shown = JSON.stringify(reasons);
  for (const reason of reasons)
    assert.ok(
      patterns.some((p) => reason.includes(p)),
      `unexpected reason: ${shown}`,
    );
  for (const pattern of patterns)
    assert.ok(
      reasons.some((r) => r.includes(pattern)),
      `no reason ${pattern}: ${shown}`,
    );
}

function attachments(mail: ParsedMail) {
  return mail.attachments.map((a) => ({
    sha: sha(a.content),
    type: a.contentType,
    name: a.filename,
    cid: a.cid,
    disposition: a.contentDisposition,
  }));
}

/** Each tracked link, in link order, leads through the server to its original URL. */
async function checkLinks(now: ParsedMail, was: ParsedMail, expected: Manifest, messageId: string) {
  const tokens = new Map<number, { token: string; payload: TokenPayload }>();
  for (const [, token] of `${now.html || ''}\n${now.text || ''}`.matchAll(CLICK)) {
    const payload = signer.verify(token!);
    assert.ok(payload, 'the token verifies');
    assert.equal(payload.messageId, messageId);
    tokens.set(payload.linkIndex, { token: token!, payload });
  }
  assert.deepEqual(
    [...tokens.keys()].sort((a, b) => a - b),
    expected.links.map((_, i) => i),
    'one token per tracked link, indexes in message order',
  );
  const originals = new Set([...hrefs(was.html).map((h) => h.trim()), ...textUrls(was.text)]);
  for (const [index, link] of expected.links.entries()) {
    const { url, name } = typeof link === 'string' ? { url: link, name: '' } : link;
    // The manifest itself must name a URL of the source message.
    assert.ok(originals.has(url) || (was.text ?? '').includes(url), `${url} is in the original`);
    const { token } = tokens.get(index)!;
    const response = await fetch(`http://${server.address}/f/${token}`, { redirect: 'manual' });
    assert.equal(response.status, 302, url);
    assert.equal(decodeLocation(response.headers.get('location')), url);
    await response.arrayBuffer();
    const [click] = await stores.events.search({ types: ['click'], messageId, limit: 1 });
    assert.equal(click?.target_link_url, url);
    assert.equal(click?.target_link_name, name);
  }
}

/** Location carries non-ASCII characters percent-encoded (HTTP headers are ASCII). */
function decodeLocation(location: string | null): string | null {
  if (location === null || /^[\x21-\x7e]*$/.test(location) === false) return location;
  return location.replace(/(?:%[89A-F][0-9A-F])+/gi, (m) => {
    try {
      return decodeURIComponent(m);
    } catch {
      return m;
    }
  });
}

async function checkPixels(now: ParsedMail, htmlParts: number) {
  const html = now.html || '';
  const kinds = [...html.matchAll(PIXEL)].map(([, t]) => signer.verify(t!)?.kind);
  assert.equal(kinds.filter((k) => k === 'initial_open').length, htmlParts, 'initial_open pixels');
  assert.equal(kinds.filter((k) => k === 'open').length, htmlParts, 'open pixels');
  // In the fixtures, either every HTML part is tracked or none is.
  if (htmlParts === 0) return;
  for (const [, pixel] of html.matchAll(new RegExp(`<body[^>]*>(${PIXEL_IMG})?`, 'gi')))
    assert.ok(
      pixel && signer.verify(pixel.match(PIXEL_TOKEN)![1]!)?.kind === 'initial_open',
      'initial_open right after <body>',
    );
  for (const m of html.matchAll(/<\/body>/gi)) {
    const pixel = html.slice(0, m.index).match(new RegExp(`${PIXEL_IMG}$`));
    assert.ok(pixel && signer.verify(pixel[1]!)?.kind === 'open', 'open right before </body>');
  }
  for (const [, token] of [...html.matchAll(PIXEL)].slice(0, 2)) {
    const response = await fetch(`http://${server.address}/q/${token}`);
    assert.equal(response.status, 200);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(PIXEL_GIF));
  }
}

/** Untracked links keep their href, no link is lost or added, no data-msys-linkname is left. */
function checkHrefs(now: ParsedMail, was: ParsedMail, expected: Manifest) {
  const before = hrefs(was.html);
  const afterAll = hrefs(now.html);
  assert.equal(afterAll.length, before.length, 'as many links as before');
  const remaining = [...before];
  for (const href of afterAll.filter((h) => !h.startsWith(`${BASE}/f/`))) {
    const at = remaining.indexOf(href);
    assert.notEqual(at, -1, `untracked href ${href} is one of the original's`);
    remaining.splice(at, 1);
  }
  const document = parseDocument(now.html || '');
  assert.equal(
    DomUtils.findAll((e) => 'data-msys-linkname' in e.attribs, document.children).length,
    0,
    'data-msys-linkname removed',
  );
  const all = (m: ParsedMail) => `${m.html || ''}\n${m.text || ''}`;
  for (const url of expected.untracked ?? []) {
    const count = (s: string) => s.split(url).length - 1;
    assert.ok(count(all(was)) > 0, `${url} is in the original`);
    assert.equal(count(all(now)), count(all(was)), `${url} is left as it was`);
  }
}

/** Hrefs of <a> and <area> (and of anything else carrying one: <link>, <v:roundrect> outside comments). */
function hrefs(html: string | false | undefined): string[] {
  if (!html) return [];
  const document = parseDocument(html);
  return DomUtils.findAll((e) => typeof e.attribs.href === 'string', document.children).map(
    (e) => e.attribs.href!,
  );
}

function textUrls(text: string | undefined): string[] {
  return [...(text ?? '').matchAll(/https?:\/\/[^\s<>"]+/gi)].map(([u]) => u);
}
