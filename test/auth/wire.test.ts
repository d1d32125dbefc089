/**
 * Specifies the Dovecot auth protocol codec (src/auth/wire.ts): framing, tab-escaping, parsing of
 * every client command into typed messages, encoding of server lines. Bad input of any kind
 * (malformed, truncated, oversized, binary, random) gives a WireError with a code, never a throw.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type ClientMessage,
  decodeLine,
  encode,
  LineFramer,
  tabEscape,
  tabUnescape,
  WireError,
} from '../../src/auth/wire.js';

const line = (text: string) => Buffer.from(text, 'utf8');
const ok = (text: string): ClientMessage => {
  const decoded = decodeLine(line(text));
  assert.ok(decoded.ok, decoded.ok ? '' : decoded.error.message);
  return decoded.message;
};
const bad = (raw: string | Buffer) => {
  const decoded = decodeLine(typeof raw === 'string' ? line(raw) : raw);
  assert.ok(!decoded.ok, `expected an error for ${JSON.stringify(raw.toString())}`);
  assert.ok(decoded.error instanceof WireError);
  return decoded.error;
};

describe('framing', () => {
  test('splits on LF across chunk boundaries, keeping an unfinished line', () => {
    const framer = new LineFramer(100);
    assert.deepEqual(framer.push(line('VERSION\t1\t0\nCP')).lines.map(String), ['VERSION\t1\t0']);
    assert.equal(framer.pending, 2);
    assert.deepEqual(framer.push(line('ID\t7\n\n')).lines.map(String), ['CPID\t7', '']);
    assert.equal(framer.pending, 0);
  });

  test('a line longer than the limit is an error, whether in one chunk or many, and stays one', () => {
    const one = new LineFramer(10);
    assert.equal(one.push(Buffer.alloc(11, 0x41)).error?.code, 'line-too-long');
    const many = new LineFramer(10);
    assert.equal(many.push(Buffer.alloc(6, 0x41)).error, null);
    const { error } = many.push(Buffer.alloc(6, 0x41));
    assert.equal(error?.code, 'line-too-long');
    assert.match(error?.message ?? '', /longer than 10 bytes/);
    assert.equal(many.push(line('VERSION\t1\t0\n')).lines.length, 0, 'nothing is trusted after the error');
  });

  test('a line of exactly the limit passes', () => {
    const framer = new LineFramer(10);
    assert.deepEqual(framer.push(Buffer.concat([Buffer.alloc(10, 0x41), line('\n')])).error, null);
  });
});

describe('tab-escaping (\\001 as the escape character)', () => {
  test('round-trips NUL, \\001, TAB, CR and LF', () => {
    const value = 'a\0b\x01c\td\re\nf';
    assert.equal(tabEscape(value), 'a\x010b\x011c\x01td\x01re\x01nf');
    assert.equal(tabUnescape(tabEscape(value)), value);
  });

  test('any other character after \\001 stands for itself; a dangling \\001 is an error', () => {
    assert.equal(tabUnescape('x\x01zy'), 'xzy');
    assert.throws(() => tabUnescape('abc\x01'), { code: 'malformed' });
  });
});

describe('client lines', () => {
  test('VERSION, CPID, CONT, CANCEL', () => {
    assert.deepEqual(ok('VERSION\t1\t2'), { type: 'VERSION', major: 1, minor: 2 });
    assert.deepEqual(ok('CPID\t4242'), { type: 'CPID', pid: '4242' });
    assert.deepEqual(ok('CONT\t9\tU01UUA=='), { type: 'CONT', id: 9, data: 'U01UUA==' });
    assert.deepEqual(ok('CONT\t9\t'), { type: 'CONT', id: 9, data: '' });
    assert.deepEqual(ok('CANCEL\t3'), { type: 'CANCEL', id: 3 });
  });

  test("AUTH as Postfix's xsasl_dovecot_server sends it", () => {
    const message = ok(
      'AUTH\t7\tplain\tservice=smtp\tnologin\tlip=127.0.0.1\trip=192.0.2.1\tsecured\tresp=AGEAYg==',
    );
    assert.deepEqual(message, {
      type: 'AUTH',
      id: 7,
      mechanism: 'PLAIN',
      params: {
        service: 'smtp',
        rip: '192.0.2.1',
        lip: '127.0.0.1',
        secured: true,
        resp: 'AGEAYg==',
        extra: { nologin: true },
      },
    });
  });

  test('everything after resp= is ignored; secured=tls counts as secured; a CR before LF is dropped', () => {
    const message = ok('AUTH\t1\tLOGIN\tservice=smtp\tsecured=tls\tresp=\trip=6.6.6.6\r');
    assert.equal(message.type, 'AUTH');
    if (message.type !== 'AUTH') return;
    assert.equal(message.params.resp, '');
    assert.equal(message.params.rip, undefined);
    assert.equal(message.params.secured, true);
  });

  test('malformed lines name what is wrong', () => {
    assert.equal(bad('VERSION\t1').code, 'malformed');
    assert.equal(bad('VERSION\tx\t0').code, 'malformed');
    assert.equal(bad('CPID').code, 'malformed');
    assert.equal(bad('AUTH\t1\tPLAIN').code, 'malformed', 'no service=');
    assert.equal(bad('AUTH\tone\tPLAIN\tservice=smtp').code, 'malformed');
    assert.equal(bad('AUTH\t99999999999\tPLAIN\tservice=smtp').code, 'malformed');
    assert.equal(bad('AUTH\t1\t\tservice=smtp').code, 'malformed');
    assert.equal(bad('AUTH\t1\tPLAIN\tservice=smtp\t=x').code, 'malformed');
    assert.equal(bad('CONT\t1\ta\tb').code, 'malformed');
    assert.equal(bad('CONT').code, 'malformed');
    assert.equal(bad('').code, 'unknown-command');
    assert.match(bad('HELO\tthere').message, /unknown command "HELO"/);
  });

  test('truncated lines (a prefix of a valid one) are errors or valid, never a crash', () => {
    const full = 'AUTH\t12\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tresp=AGEAYg==';
    for (let i = 0; i <= full.length; i++) decodeLine(line(full.slice(0, i)));
  });

  test('binary input: NUL bytes and invalid UTF-8 are encoding errors; the message quotes nothing', () => {
    assert.equal(bad(Buffer.from('CPID\t1\0')).code, 'encoding');
    const error = bad(Buffer.from([0x43, 0x50, 0x49, 0x44, 0x09, 0xff, 0xfe]));
    assert.equal(error.code, 'encoding');
    assert.equal(bad(Buffer.from([0x80, 0x81, 0x82, 0x09])).message, 'line is not valid UTF-8');
    assert.match(bad('\x07\x1b[31mEVIL').message, /unknown command "\?\?\[31mEVIL"/);
  });
});

describe('server lines', () => {
  test('the handshake and replies, with fields escaped', () => {
    assert.equal(encode({ type: 'VERSION', major: 1, minor: 2 }), 'VERSION\t1\t2\n');
    assert.equal(encode({ type: 'MECH', name: 'PLAIN', flags: ['plaintext'] }), 'MECH\tPLAIN\tplaintext\n');
    assert.equal(encode({ type: 'DONE' }), 'DONE\n');
    assert.equal(encode({ type: 'CONT', id: 3, data: '' }), 'CONT\t3\t\n');
    assert.equal(encode({ type: 'OK', id: 3, params: [['user', 'abc']] }), 'OK\t3\tuser=abc\n');
    assert.equal(
      encode({
        type: 'FAIL',
        id: 4,
        params: [
          ['reason', 'a\tb\nc'],
          ['temp', true],
        ],
      }),
      'FAIL\t4\treason=a\x01tb\x01nc\ttemp\n',
    );
  });
});

describe('fuzz', () => {
  // Seeded, so a failure reproduces: mulberry32.
  function random(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const VALID = [
    'VERSION\t1\t0',
    'CPID\t123',
    'AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tsecured\tresp=AFNNVFAAeA==',
    'AUTH\t2\tLOGIN\tservice=smtp\trip=::1',
    'CONT\t2\tU01UUF9JbmplY3Rpb24=',
    'CANCEL\t2',
  ].map((s) => Buffer.from(s));

  test('5000 random byte strings and mutations of valid lines decode or fail with a WireError', () => {
    const rnd = random(20_240_601);
    const byte = () => Math.floor(rnd() * 256);
    for (let round = 0; round < 5000; round++) {
      let input: Buffer;
      if (round % 2 === 0) {
        input = Buffer.from(Array.from({ length: Math.floor(rnd() * 80) }, byte));
      } else {
        input = Buffer.from(VALID[Math.floor(rnd() * VALID.length)]!);
        const edits = 1 + Math.floor(rnd() * 4);
        for (let e = 0; e < edits && input.length > 0; e++) {
          const at = Math.floor(rnd() * input.length);
          const kind = rnd();
          if (kind < 0.4) input[at] = byte();
          else if (kind < 0.6) input[at] = [0x09, 0x01, 0x3d, 0x00][Math.floor(rnd() * 4)]!;
          else if (kind < 0.8) input = input.subarray(0, at);
          else input = Buffer.concat([input, input.subarray(at)]); // a repeated tail
        }
      }
      const decoded = decodeLine(input);
      if (!decoded.ok) assert.ok(decoded.error instanceof WireError);
      // Through the framer too, in random chunks: never a throw, lines never over the limit.
      const framer = new LineFramer(64);
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(rnd() * 16);
        const { lines } = framer.push(input.subarray(at, at + size));
        for (const l of lines) assert.ok(l.length <= 64);
        at += size;
      }
    }
  });
});
