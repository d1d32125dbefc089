/**
 * Fuzzes the whole milter stack below the socket, deterministically (a seeded generator): random
 * and mutated command streams — plausible conversations with commands dropped, repeated or
 * swapped, random macros, header names and values (X-MSYS-API garbage included), body bytes, and
 * byte flips in the encoded stream — go through the framer, the decoder, the session and Sluice's
 * filter with tracking on, exactly as the server feeds them. Whatever arrives: nothing throws
 * past the session, every packet sent back decodes as a filter response, nothing is sent after
 * the session closed, and every recorded event names its message and recipient.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import type { SluiceEvent } from '../../src/core/events.js';
import { RelayPolicy } from '../../src/core/relay-policy.js';
import { SluiceFilter } from '../../src/milter/filter.js';
import { MilterSession } from '../../src/milter/session.js';
import {
  decodeCommand,
  decodeResponse,
  encodeCommand,
  type MilterCommand,
  PacketFramer,
  WireError,
} from '../../src/milter/wire.js';
import { TokenSigner } from '../../src/tracking/token.js';

const spill = mkdtempSync(path.join(tmpdir(), 'sluice-milter-fuzz-'));
after(() => rmSync(spill, { recursive: true, force: true }));

let seed = 0x51c3;
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff;
  return seed / 0x7fffffff;
};
const int = (n: number) => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));

const NAMES = [
  'Subject',
  'From',
  'X-MSYS-API',
  'Content-Type',
  'Content-Transfer-Encoding',
  'DKIM-Signature',
  'X',
];
const VALUES = [
  '{"campaign_id":"c","options":{"open_tracking":true,"click_tracking":true}}',
  '{"tags":"x"}',
  '{nope',
  'multipart/alternative; boundary="b"',
  'text/html',
  'quoted-printable',
  '=?utf-8?q?=C3=A9?=',
  '',
];
const BODIES = [
  '<a href="https://example.com/x">x</a>\r\n',
  '--b\r\nContent-Type: text/html\r\n\r\n<a href="https://e.example/">e</a>\r\n--b--\r\n',
  'plain https://example.com/y text\r\n',
];

function conversation(): MilterCommand[] {
  const commands: MilterCommand[] = [
    {
      kind: 'optneg',
      version: pick([2, 6, 6, 6, 7]),
      actions: random() < 0.8 ? 0x1ff : int(0x200),
      protocol: int(0x200000),
    },
    {
      kind: 'connect',
      hostname: 'h',
      family: pick(['inet', 'inet6', 'unix', 'unknown']),
      port: int(65536),
      address: pick(['127.0.0.1', '192.0.2.1', '::1', '']),
    },
  ];
  for (let m = 1 + int(3); m > 0; m--) {
    if (random() < 0.5)
      commands.push({ kind: 'macro', stage: 'M', macros: [['{auth_authen}', pick(['k1', 'k2', ''])]] });
    commands.push({ kind: 'mail', args: [pick(['<a@example.com>', '<>', 'junk', ''])] });
    for (let r = int(3); r >= 0; r--) commands.push({ kind: 'rcpt', args: [`<r${r}@example.net>`] });
    commands.push({ kind: 'data' });
    for (let h = int(6); h > 0; h--)
      commands.push({ kind: 'header', name: pick(NAMES), value: pick(VALUES) });
    commands.push({ kind: 'eoh' });
    for (let b = int(4); b > 0; b--)
      commands.push({ kind: 'body', chunk: random() < 0.7 ? Buffer.from(pick(BODIES)) : bytes(int(300)) });
    commands.push(
      random() < 0.8
        ? { kind: 'eom', chunk: Buffer.alloc(0) }
        : pick([{ kind: 'abort' }, { kind: 'quit_nc' }]),
    );
  }
  commands.push({ kind: 'quit' });
  // Mutations of the conversation itself: drop, repeat or swap commands.
  for (let n = int(4); n > 0; n--) {
    const at = int(commands.length);
    const op = int(3);
    if (op === 0) commands.splice(at, 1);
    else if (op === 1) commands.splice(at, 0, commands[at]!);
    else [commands[at], commands[0]] = [commands[0]!, commands[at]!];
  }
  return commands;
}

test('fuzz: mutated milter conversations through framer, session and filter never break the stack', async () => {
  const signer = new TokenSigner([{ id: 'k', secret: 'fuzzing-secret-0123' }], 86_400_000);
  // What the rounds reached, so a generator that never gets past negotiation would show.
  const reached = { events: 0, bodies: 0, replycodes: 0, wireErrors: 0 };
  for (let round = 0; round < 400; round++) {
    const events: SluiceEvent[] = [];
    const filter = new SluiceFilter({
      policy: {
        decide: async (q) =>
          q.keyId === 'k2'
            ? { kind: 'key-rejected', reason: 'grant' }
            : { kind: 'pass', authenticated: true },
      },
      events: {
        append: (e) => events.push(e),
        appendMany: (more) => events.push(...more),
        search: async () => [],
        page: async () => ({ events: [], next: null, total: 0 }),
      },
      relay: new RelayPolicy({ networks: ['127.0.0.0/8', '::1/128'], require_auth: false }),
      maxHeaderSize: 102_400,
      unauthenticated: pick(['pass', 'process', 'reject'] as const),
      findKey: async () => null,
      tracking: {
        signer,
        baseUrl: 'https://t.example',
        maxPartSize: 10_000,
        defaults: { open: random() < 0.5, click: random() < 0.5 },
        spillDir: spill,
        memoryLimit: 256,
      },
    });
    let closed = false;
    const replies = new PacketFramer(1 << 20);
    const session = new MilterSession({
      handlers: filter,
      send: (out) => {
        assert.equal(closed, false, `round ${round}: sent after close`);
        const { packets, error } = replies.push(out);
        assert.equal(error, null);
        for (const packet of packets) {
          const response = decodeResponse(packet);
          if (response.kind === 'replbody') reached.bodies++;
          if (response.kind === 'replycode') reached.replycodes++;
        }
      },
      close: () => {
        closed = true;
      },
      log: pino({ level: 'silent' }),
    });
    let stream = Buffer.concat(conversation().map(encodeCommand));
    if (random() < 0.3) {
      stream = Buffer.from(stream);
      for (let flips = 1 + int(3); flips > 0; flips--) stream[int(stream.length)] = int(256);
    }
    const framer = new PacketFramer(1 << 16);
    // Fed in random pieces, as a socket would deliver them; the server's handling of each packet.
    for (let at = 0; at < stream.length && !closed; ) {
      const size = 1 + int(700);
      const { packets, error } = framer.push(stream.subarray(at, at + size));
      at += size;
      for (const packet of packets) {
        if (closed) break;
        let command: MilterCommand;
        try {
          command = decodeCommand(packet);
        } catch (e) {
          assert.ok(e instanceof WireError, `round ${round}: ${(e as Error).stack}`);
          reached.wireErrors++;
          session.protocolError(e);
          break;
        }
        await session.receive(command);
      }
      if (error) session.protocolError(error);
    }
    session.end();
    reached.events += events.length;
    for (const event of events) {
      assert.match(String(event.message_id), /^[0-9a-f]{20}$/, `round ${round}`);
      assert.ok(event.rcpt_to, `round ${round}: an event without its recipient`);
    }
  }
  for (const [what, count] of Object.entries(reached)) assert.ok(count > 0, `no round reached ${what}`);
});
