/**
 * Specifies the milter codec: every MTA command and every filter response of protocol v6 survives
 * encode → frame → decode; framing works whatever the chunking; malformed input (length 0, a
 * length over the limit or over 64 MB, truncated fields, trailing bytes, unknown commands) is a
 * WireError and nothing else; reply codes are well-formed; a seeded fuzz loop of random and
 * mutated packets never gets anything but a WireError out of the codec, and never makes it hold
 * more bytes than it was given.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_BODY_CHUNK, SMFIF, SMFIP } from '../../src/milter/constants.js';
import {
  decodeCommand,
  decodeResponse,
  encodeCommand,
  encodeResponse,
  formatReply,
  type MilterCommand,
  type MilterResponse,
  PacketFramer,
  WireError,
} from '../../src/milter/wire.js';

const LIMIT = 1024 * 1024;

function one(bytes: Buffer) {
  const { packets, error } = new PacketFramer(LIMIT).push(bytes);
  assert.equal(error, null);
  assert.equal(packets.length, 1);
  return packets[0]!;
}

const COMMANDS: MilterCommand[] = [
  { kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff },
  { kind: 'connect', hostname: 'client.example', family: 'inet', port: 40000, address: '192.0.2.1' },
  { kind: 'connect', hostname: 'v6.example', family: 'inet6', port: 25, address: '2001:db8::1' },
  { kind: 'connect', hostname: 'localhost', family: 'unix', port: 0, address: '/run/sock' },
  { kind: 'connect', hostname: 'unknown', family: 'unknown', port: 0, address: '' },
  { kind: 'helo', helo: 'client.example' },
  { kind: 'mail', args: ['<app@example.com>', 'SIZE=100', 'BODY=8BITMIME'] },
  { kind: 'rcpt', args: ['<you@example.net>'] },
  { kind: 'abort' },
  { kind: 'data' },
  { kind: 'header', name: 'Subject', value: ' Grüße\n\tfolded' },
  { kind: 'eoh' },
  { kind: 'body', chunk: Buffer.from('line 1\r\nline 2\r\n') },
  { kind: 'eom', chunk: Buffer.alloc(0) },
  { kind: 'eom', chunk: Buffer.from('tail\r\n') },
  { kind: 'quit' },
  { kind: 'quit_nc' },
  { kind: 'unknown', command: 'XFOO bar' },
  {
    kind: 'macro',
    stage: 'M',
    macros: [
      ['{auth_authen}', '4a0c1841f88df487'],
      ['i', 'AB12'],
    ],
  },
  { kind: 'macro', stage: 'C', macros: [] },
];

const RESPONSES: MilterResponse[] = [
  {
    kind: 'optneg',
    version: 6,
    actions: SMFIF.ADDHDRS | SMFIF.CHGHDRS | SMFIF.SETSYMLIST,
    protocol: SMFIP.NR_HDR | SMFIP.HDR_LEADSPC,
    macros: { ENVFROM: ['{auth_authen}', 'i'], EOM: ['i'] },
  },
  { kind: 'optneg', version: 6, actions: 0, protocol: 0 },
  ...(['continue', 'accept', 'reject', 'tempfail', 'discard', 'skip', 'progress'] as const).map((kind) => ({
    kind,
  })),
  {
    kind: 'replycode',
    code: 550,
    enhanced: '5.6.0',
    lines: ['X-MSYS-API: tags must be an array of strings'],
  },
  { kind: 'replycode', code: 451, enhanced: '4.3.0', lines: ['first line', '100% second line'] },
  { kind: 'replycode', code: 554, enhanced: null, lines: ['no enhanced code'] },
  { kind: 'addheader', name: 'X-Sluice-Message-ID', value: ' 0123456789abcdef0123' },
  { kind: 'insheader', index: 0, name: 'X-First', value: 'v' },
  { kind: 'chgheader', index: 2, name: 'X-MSYS-API', value: '' },
  { kind: 'replbody', chunk: Buffer.alloc(MAX_BODY_CHUNK, 0x61) },
  { kind: 'chgfrom', sender: '<new@example.com>', args: null },
  { kind: 'chgfrom', sender: '<new@example.com>', args: 'SIZE=1' },
  { kind: 'addrcpt', rcpt: '<a@example.net>' },
  { kind: 'delrcpt', rcpt: '<b@example.net>' },
  { kind: 'addrcpt_par', rcpt: '<c@example.net>', args: 'NOTIFY=NEVER' },
  { kind: 'addrcpt_par', rcpt: '<c@example.net>', args: null },
  { kind: 'quarantine', reason: 'held for review' },
];

describe('milter wire codec', () => {
  test('every MTA command round-trips', () => {
    for (const command of COMMANDS) assert.deepEqual(decodeCommand(one(encodeCommand(command))), command);
  });

  test('every filter response round-trips', () => {
    for (const response of RESPONSES)
      assert.deepEqual(decodeResponse(one(encodeResponse(response))), response);
  });

  test('framing does not depend on how the bytes are chunked', () => {
    const stream = Buffer.concat(COMMANDS.map(encodeCommand));
    for (const size of [1, 2, 3, 5, 7, 64, stream.length]) {
      const framer = new PacketFramer(LIMIT);
      const decoded: MilterCommand[] = [];
      for (let at = 0; at < stream.length; at += size) {
        const { packets, error } = framer.push(stream.subarray(at, at + size));
        assert.equal(error, null);
        decoded.push(...packets.map(decodeCommand));
      }
      assert.deepEqual(decoded, COMMANDS);
      assert.equal(framer.pending, 0);
    }
  });

  test('length 0 and lengths over the limit fail as soon as the 4 length bytes are in', () => {
    for (const length of [0, LIMIT + 1, 64 * 1024 * 1024 + 1, 0xffffffff]) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(length);
      const framer = new PacketFramer(LIMIT);
      const { packets, error } = framer.push(head);
      assert.equal(packets.length, 0);
      assert.ok(error instanceof WireError && error.code === 'length', String(length));
      assert.equal(framer.pending, 0, 'nothing kept');
      // It stays failed: the stream position is lost.
      assert.equal(framer.push(encodeCommand({ kind: 'quit' })).error, error);
    }
  });

  test('a truncated packet is pending, never decoded', () => {
    const bytes = encodeCommand({ kind: 'helo', helo: 'client.example' });
    const framer = new PacketFramer(LIMIT);
    const { packets, error } = framer.push(bytes.subarray(0, bytes.length - 1));
    assert.deepEqual([packets, error], [[], null]);
    assert.equal(framer.pending, bytes.length - 1);
  });

  test('malformed payloads are WireErrors that name the problem', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['O', Buffer.alloc(8), /optneg: truncated 32-bit field/],
      ['C', Buffer.from('host\0X'), /unknown address family/],
      ['C', Buffer.from('host\x004\x00'), /truncated 16-bit field/],
      ['C', Buffer.from('host\x004\x00\x19addr'), /string without its NUL/],
      ['H', Buffer.from('no-nul'), /string without its NUL/],
      ['H', Buffer.from('a\0b'), /trailing bytes/],
      ['M', Buffer.alloc(0), /missing string fields/],
      ['L', Buffer.from('Subject\0'), /string without its NUL/],
      ['D', Buffer.alloc(0), /missing byte/],
      ['D', Buffer.from('Mname\0'), /a name without its value/],
      ['A', Buffer.from('x'), /trailing bytes/],
    ];
    for (const [code, payload, message] of cases) {
      assert.throws(
        () => decodeCommand({ code, payload }),
        (e: unknown) => e instanceof WireError && e.code === 'malformed' && message.test(e.message),
        `${code} ${payload.toString('hex')}`,
      );
    }
    assert.throws(
      () => decodeCommand({ code: 'Z', payload: Buffer.alloc(0) }),
      (e: unknown) => e instanceof WireError && e.code === 'unknown-command',
    );
  });

  test('reply codes are well-formed or refused', () => {
    assert.equal(formatReply(550, '5.6.0', ['a', 'b']), '550-5.6.0 a\r\n550 5.6.0 b');
    assert.equal(formatReply(451, null, ['50% off']), '451 50%% off');
    for (const [code, enhanced, lines] of [
      [250, '2.0.0', ['ok']],
      [550, '4.6.0', ['class mismatch']],
      [550, '5.6', ['short']],
      [550, '5.6.0', []],
      [550, '5.6.0', ['line\r\nbreak']],
      [550, '5.6.0', ['x'.repeat(600)]],
    ] as Array<[number, string, string[]]>) {
      assert.throws(() => formatReply(code, enhanced, lines), WireError, `${code} ${enhanced} ${lines}`);
    }
    assert.throws(
      () => encodeResponse({ kind: 'replbody', chunk: Buffer.alloc(MAX_BODY_CHUNK + 1) }),
      WireError,
    );
    assert.throws(() => encodeResponse({ kind: 'addheader', name: 'X\0', value: '' }), WireError);
  });

  test('fuzz: random and mutated packets give packets or a WireError, nothing else', () => {
    let seed = 0x5eed;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const int = (n: number) => Math.floor(random() * n);
    const valid = [...COMMANDS.map(encodeCommand), ...RESPONSES.slice(0, 10).map(encodeResponse)];
    for (let round = 0; round < 5000; round++) {
      let bytes: Buffer;
      if (round % 2 === 0) {
        bytes = Buffer.from(valid[int(valid.length)]!);
        for (let flips = 1 + int(4); flips > 0; flips--) bytes[int(bytes.length)] = int(256);
        if (random() < 0.2) bytes = bytes.subarray(0, int(bytes.length));
      } else {
        bytes = Buffer.alloc(int(64));
        for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
      }
      const framer = new PacketFramer(4096);
      const { packets, error } = framer.push(bytes);
      assert.ok(error === null || error instanceof WireError);
      assert.ok(framer.pending <= bytes.length, 'never holds more than it was given');
      for (const packet of packets) {
        for (const decode of [decodeCommand, decodeResponse]) {
          try {
            decode(packet);
          } catch (e) {
            assert.ok(e instanceof WireError, `round ${round}: ${(e as Error).stack}`);
          }
        }
      }
    }
  });
});
