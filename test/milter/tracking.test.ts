/**
 * Specifies tracking through the milter, without sockets: the test plays the MTA. The body
 * arrives in chunks and comes back with replace-body (packets ≤ 65535 bytes) rewritten by core's
 * TrackingTransform, the same bytes trackMessage gives for the whole message; tokens name the
 * message id of X-Sluice-Message-ID and the sole recipient (empty with several); the on/off
 * decision is core's (X-MSYS-API options, then the key's defaults, then config); nothing tracked
 * means no new body; a large body waits on disk and the file is removed after EOM or abort.
 * Also milter.unauthenticated: pass, process, reject.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import type { SluiceEvent } from '../../src/core/events.js';
import { RelayPolicy } from '../../src/core/relay-policy.js';
import { type FilterDeps, SluiceFilter } from '../../src/milter/filter.js';
import { MilterSession } from '../../src/milter/session.js';
import {
  decodeResponse,
  type MilterCommand,
  type MilterResponse,
  PacketFramer,
} from '../../src/milter/wire.js';
import type { ApiKeyRecord, KeyDefaults } from '../../src/store/types.js';
import { trackMessage } from '../../src/tracking/mime.js';
import { TokenSigner } from '../../src/tracking/token.js';

const spillRoot = mkdtempSync(path.join(tmpdir(), 'sluice-milter-tracking-'));
after(() => rmSync(spillRoot, { recursive: true, force: true }));

const signer = new TokenSigner([{ id: 'k1', secret: 'a-secret-of-sixteen-chars' }], 86_400_000);
const BASE = 'https://t.example.com';

function setup(
  options: {
    defaults?: { open: boolean; click: boolean };
    keyDefaults?: KeyDefaults;
    memoryLimit?: number;
    unauthenticated?: FilterDeps['unauthenticated'];
  } = {},
) {
  const events: SluiceEvent[] = [];
  const spillDir = mkdtempSync(path.join(spillRoot, 'spill-'));
  const filter = new SluiceFilter({
    policy: { decide: async () => ({ kind: 'pass', authenticated: true }) },
    events: {
      append: (e) => events.push(e),
      appendMany: (more) => events.push(...more),
      search: async () => [],
      page: async () => ({ events: [], next: null, total: 0 }),
    },
    relay: new RelayPolicy({ networks: ['127.0.0.0/8'], require_auth: false }),
    maxHeaderSize: 102_400,
    unauthenticated: options.unauthenticated ?? 'pass',
    findKey: async (id) => ({ id, defaults: options.keyDefaults ?? {} }) as ApiKeyRecord,
    tracking: {
      signer,
      baseUrl: BASE,
      maxPartSize: 5_000_000,
      defaults: options.defaults ?? { open: false, click: false },
      spillDir,
      memoryLimit: options.memoryLimit ?? 1_048_576,
    },
  });
  const sent: MilterResponse[] = [];
  const framer = new PacketFramer(1 << 20);
  const session = new MilterSession({
    handlers: filter,
    send: (bytes) => sent.push(...framer.push(bytes).packets.map(decodeResponse)),
    close: () => {},
    log: pino({ level: 'silent' }),
  });
  const run = async (...commands: MilterCommand[]) => {
    for (const command of commands) await session.receive(command);
    return sent.splice(0);
  };
  return { run, events, spillDir };
}

const OPTNEG: MilterCommand = { kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff };
const connect = (address = '127.0.0.1'): MilterCommand => ({
  kind: 'connect',
  hostname: 'h',
  family: 'inet',
  port: 1,
  address,
});

const HTML =
  '<html><body><p>Hi <a href="https://example.com/a">one</a> and <a href="https://example.com/b">two</a></p></body></html>';

/** A multipart message: text, HTML and a base64 attachment, as header fields and a body. */
function multipart(): { headers: Array<[string, string]>; body: Buffer } {
  const attachment = Buffer.alloc(3000, 7).toString('base64').replace(/.{76}/g, '$&\r\n');
  const body = [
    '--b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Visit https://example.com/plain now',
    '--b1',
    'Content-Type: text/html; charset=utf-8',
    '',
    HTML,
    '--b1',
    'Content-Type: application/octet-stream',
    'Content-Disposition: attachment; filename="x.bin"',
    'Content-Transfer-Encoding: base64',
    '',
    attachment,
    '--b1--',
    '',
  ].join('\r\n');
  return {
    headers: [
      ['From', 'app@example.com'],
      ['Subject', 'tracked'],
      ['MIME-Version', '1.0'],
      ['Content-Type', 'multipart/alternative;\n\tboundary="b1"'],
    ],
    body: Buffer.from(body),
  };
}

async function send(
  run: ReturnType<typeof setup>['run'],
  message: { headers: Array<[string, string]>; body: Buffer },
  options: { msys?: string; rcpts?: string[]; chunk?: number; key?: boolean } = {},
) {
  await run(OPTNEG, connect());
  if (options.key !== false) await run({ kind: 'macro', stage: 'M', macros: [['{auth_authen}', 'key1']] });
  await run({ kind: 'mail', args: ['<app@example.com>'] });
  for (const rcpt of options.rcpts ?? ['you@example.net']) await run({ kind: 'rcpt', args: [`<${rcpt}>`] });
  for (const [name, value] of message.headers) await run({ kind: 'header', name, value: ` ${value}` });
  if (options.msys) await run({ kind: 'header', name: 'X-MSYS-API', value: ` ${options.msys}` });
  await run({ kind: 'eoh' });
  const size = options.chunk ?? 1000;
  for (let at = 0; at < message.body.length; at += size)
    await run({ kind: 'body', chunk: message.body.subarray(at, at + size) });
  const replies = await run({ kind: 'eom', chunk: Buffer.alloc(0) });
  const id = (replies.find((r) => r.kind === 'addheader') as { value: string } | undefined)?.value.trim();
  const pieces = replies.filter((r) => r.kind === 'replbody') as Array<{ chunk: Buffer }>;
  return {
    replies,
    id,
    pieces,
    body: pieces.length > 0 ? Buffer.concat(pieces.map((p) => p.chunk)) : null,
    verdict: replies[replies.length - 1],
  };
}

const TOKEN = /https:\/\/t\.example\.com\/[fq]\/([A-Za-z0-9_-]+)/g;
const tokensOf = (text: string) => [...text.matchAll(TOKEN)].map((m) => signer.verify(m[1]!));
const withoutTokens = (text: string) => text.replace(TOKEN, 'TOKEN');

describe('tracking through the milter', () => {
  test('X-MSYS-API turns tracking on: the body comes back as core’s transform writes it', async () => {
    const { run, events } = setup();
    const message = multipart();
    const sent = await send(run, message, {
      msys: '{"options":{"open_tracking":true,"click_tracking":true}}',
      chunk: 333,
    });
    assert.deepEqual(sent.verdict, { kind: 'continue' });
    assert.ok(sent.body, 'a new body was sent');
    // The same transform over the whole message (header section + body) gives the same bytes.
    const header = message.headers.map(([n, v]) => `${n}: ${v.replace(/\n/g, '\r\n')}\r\n`).join('');
    const whole = await trackMessage(Buffer.concat([Buffer.from(`${header}\r\n`), message.body]), {
      open: true,
      click: true,
      baseUrl: BASE,
      signer,
      messageId: sent.id!,
      rcpt: 'you@example.net',
      maxPartSize: 5_000_000,
    });
    const expectedBody = whole.message.subarray(header.length + 2).toString();
    assert.equal(withoutTokens(sent.body.toString()), withoutTokens(expectedBody));
    // Parts that are not tracked pass byte for byte: the attachment is there unchanged.
    const attachmentAt = message.body.indexOf('--b1\r\nContent-Type: application/octet-stream');
    assert.ok(sent.body.toString().endsWith(message.body.subarray(attachmentAt).toString()));
    const tokens = tokensOf(sent.body.toString());
    assert.equal(tokens.length, 5, 'one text link, two HTML links, the initial_open and open pixels');
    for (const token of tokens) {
      assert.ok(token, 'every token verifies');
      assert.equal(token.messageId, sent.id);
      assert.equal(token.rcpt, 'you@example.net', 'the sole recipient');
    }
    assert.deepEqual(
      tokens.filter((t) => t!.kind === 'click').map((t) => t!.url),
      ['https://example.com/plain', 'https://example.com/a', 'https://example.com/b'],
    );
    assert.equal(events.length, 1);
    assert.equal(events[0]!.message_id, sent.id);
  });

  test('several recipients: one body for all, so the token’s recipient is empty', async () => {
    const { run } = setup({ defaults: { open: false, click: true } });
    const sent = await send(run, multipart(), { rcpts: ['a@example.net', 'b@example.net'] });
    const tokens = tokensOf(sent.body!.toString());
    assert.equal(tokens.length, 3, 'click tracking only: no pixel');
    for (const token of tokens) assert.equal(token!.rcpt, '');
  });

  test('precedence is core’s: X-MSYS-API options, then the key’s defaults, then config', async () => {
    const keyOn = setup({ keyDefaults: { click_tracking: true } });
    assert.ok((await send(keyOn.run, multipart())).body, 'the key turns clicks on');
    const headerOff = setup({ keyDefaults: { click_tracking: true }, defaults: { open: true, click: true } });
    const off = await send(headerOff.run, multipart(), {
      msys: '{"options":{"click_tracking":false,"open_tracking":false}}',
    });
    assert.equal(off.body, null, 'the header turns both off');
    const nothing = setup();
    const plain = await send(nothing.run, multipart());
    assert.equal(plain.body, null, 'everything off by default: no new body');
    assert.ok(plain.id);
  });

  test('nothing to track (no links) sends no new body', async () => {
    const { run } = setup({ defaults: { open: false, click: true } });
    const sent = await send(run, {
      headers: [['Content-Type', 'text/plain']],
      body: Buffer.from('no links here\r\n'),
    });
    assert.equal(sent.body, null);
    assert.deepEqual(sent.verdict, { kind: 'continue' });
  });

  test('a large body waits on disk, comes back in packets ≤ 65535 bytes, and the file is removed', async () => {
    const { run, spillDir } = setup({ defaults: { open: true, click: true }, memoryLimit: 4096 });
    const message = multipart();
    const padding = `${'x'.repeat(70)}\r\n`.repeat(3000);
    message.body = Buffer.concat([
      Buffer.from(`--b1\r\nContent-Type: text/plain\r\n\r\n${padding}`),
      message.body,
    ]);
    const sent = await send(run, message, { chunk: 65_535 });
    assert.ok(sent.pieces.length >= 4);
    for (const piece of sent.pieces) assert.ok(piece.chunk.length <= 65_535);
    assert.ok(sent.body!.toString().startsWith(`--b1\r\nContent-Type: text/plain\r\n\r\n${padding}`));
    assert.equal(tokensOf(sent.body!.toString()).length, 5);
    assert.deepEqual(
      readdirSync(spillDir, { recursive: true }).filter((f) => String(f).includes('body')),
      [],
    );
  });

  test('an aborted message leaves no spill file behind', async () => {
    const { run, spillDir } = setup({ defaults: { open: true, click: true }, memoryLimit: 1024 });
    await run(OPTNEG, connect(), { kind: 'mail', args: ['<app@example.com>'] });
    await run({ kind: 'rcpt', args: ['<a@example.net>'] });
    await run({ kind: 'header', name: 'Content-Type', value: ' image/png' }, { kind: 'eoh' });
    await run({ kind: 'body', chunk: Buffer.from(`${'y'.repeat(78)}\r\n`.repeat(200)) });
    assert.ok(readdirSync(spillDir, { recursive: true }).length > 0, 'the body went to disk');
    await run({ kind: 'abort' });
    // abort() removes the file in the background.
    for (
      let i = 0;
      i < 100 &&
      readdirSync(path.join(spillDir, '.'), { recursive: true }).some((f) => String(f).includes('body'));
      i++
    )
      await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(
      readdirSync(spillDir, { recursive: true }).filter((f) => String(f).includes('body')),
      [],
    );
  });

  test('milter.unauthenticated: pass leaves outside mail alone, process records it, reject refuses it', async () => {
    const outside = async (rule: 'pass' | 'process' | 'reject') => {
      const { run, events } = setup({ unauthenticated: rule });
      await run(OPTNEG, connect('192.0.2.9'));
      const [reply] = await run({ kind: 'mail', args: ['<world@example.org>'] });
      if (reply?.kind !== 'continue') return { reply, events };
      await run({ kind: 'rcpt', args: ['<a@example.net>'] }, { kind: 'eoh' });
      const replies = await run({ kind: 'eom', chunk: Buffer.alloc(0) });
      return { reply: replies[replies.length - 1], events };
    };
    assert.deepEqual((await outside('pass')).reply, { kind: 'accept' });
    const processed = await outside('process');
    assert.deepEqual(processed.reply, { kind: 'continue' });
    assert.equal(processed.events.length, 1);
    assert.equal(processed.events[0]!.ip_address, '192.0.2.9');
    const rejected = await outside('reject');
    assert.equal((rejected.reply as { code: number }).code, 550);
    assert.equal((rejected.reply as { enhanced: string }).enhanced, '5.7.1');
    assert.equal(rejected.events.length, 0);
  });
});
