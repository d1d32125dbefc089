/**
 * Specifies MessageIntake, the streaming pass every incoming message goes through before it is
 * spooled: line ends come out as CRLF whatever the chunking (a CR at the end of one chunk and the
 * LF at the start of the next are one line end), the prepended trace header comes first, the
 * X-MSYS-API header (folded or not) is taken out and parsed, Subject and From are decoded for
 * events (RFC 2047), the body passes through byte for byte, NUL bytes, over-long lines and an
 * over-large header section are refused with the right Rejection, and `size` counts exactly the
 * bytes handed out. A property test checks that random chunkings of one input give one output.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newMessageId } from '../../src/core/ids.js';
import { type IntakeLimits, type IntakeResult, MessageIntake } from '../../src/core/intake.js';
import { Rejection } from '../../src/core/reply.js';
import { UPSTREAM_ID_MAX_AGE_MS, UpstreamIdSigner } from '../../src/core/upstream-id.js';

const LIMITS: IntakeLimits = { maxHeaderSize: 4096, maxLineLength: 998 };
const TRACE = Buffer.from('Received: from client.test by sluice.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n');

type Chunking = 'whole' | 'bytes' | number[];

/** Splits input at the given cut points (or per byte, or not at all). */
function split(input: Buffer, chunking: Chunking): Buffer[] {
  if (chunking === 'whole') return [input];
  if (chunking === 'bytes') return [...input].map((b) => Buffer.from([b]));
  const pieces: Buffer[] = [];
  let at = 0;
  for (const cut of [...chunking].sort((a, b) => a - b)) {
    pieces.push(input.subarray(at, cut));
    at = cut;
  }
  pieces.push(input.subarray(at));
  return pieces;
}

function run(
  input: string | Buffer,
  chunking: Chunking = 'whole',
  limits: IntakeLimits = LIMITS,
  prepend: Buffer = TRACE,
): { out: Buffer; result: IntakeResult; handedOut: number } {
  const intake = new MessageIntake(limits, prepend);
  const parts: Buffer[] = [];
  for (const piece of split(Buffer.isBuffer(input) ? input : Buffer.from(input, 'utf8'), chunking)) {
    parts.push(...intake.push(piece));
  }
  const { tail, result } = intake.end();
  parts.push(...tail);
  const out = Buffer.concat(parts);
  return { out, result, handedOut: parts.reduce((n, p) => n + p.length, 0) };
}

/** The stored message without the trace header (asserting that the trace header is there first). */
function stored(input: string | Buffer, chunking: Chunking = 'whole', limits = LIMITS): string {
  const { out } = run(input, chunking, limits);
  assert.ok(out.subarray(0, TRACE.length).equals(TRACE), 'the trace header comes first');
  return out.subarray(TRACE.length).toString('utf8');
}

function rejection(code: number, enhanced: string) {
  return (error: unknown) => {
    assert.ok(error instanceof Rejection, `expected a Rejection, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.equal(error.enhanced, enhanced);
    return true;
  };
}

describe('MessageIntake: line ends', () => {
  test('a bare LF becomes CRLF, in the header section and in the body', () => {
    const input = 'Subject: hi\nFrom: a@example.test\n\nline one\nline two\n';
    assert.equal(stored(input), 'Subject: hi\r\nFrom: a@example.test\r\n\r\nline one\r\nline two\r\n');
  });

  test('CRLF input passes unchanged', () => {
    const input = 'Subject: hi\r\n\r\nline one\r\nline two\r\n';
    assert.equal(stored(input), input);
  });

  test('mixed endings are all CRLF afterwards, never CR CR LF', () => {
    const input = 'A: 1\r\nB: 2\n\r\nbody 1\nbody 2\r\nbody 3\n';
    const out = stored(input);
    assert.equal(out, 'A: 1\r\nB: 2\r\n\r\nbody 1\r\nbody 2\r\nbody 3\r\n');
    assert.ok(!out.includes('\r\r'));
  });

  test('a CR ending one chunk and the LF starting the next are one line end', () => {
    const input = 'Subject: hi\r\n\r\nab\r\ncd\r\n';
    const cut = input.indexOf('\r\ncd') + 1; // first chunk ends with the CR
    assert.equal(stored(input, [cut]), input);
  });

  test('fed one byte at a time, CRLF input is unchanged and bare LFs still become CRLF', () => {
    const crlf = 'Subject: hi\r\nX-A: b\r\n\r\nbody\r\n\r\nmore\r\n';
    assert.equal(stored(crlf, 'bytes'), crlf);
    assert.equal(stored('Subject: hi\n\nbody\nmore\n', 'bytes'), 'Subject: hi\r\n\r\nbody\r\nmore\r\n');
  });

  test('a lone CR inside a line is data and is left alone', () => {
    const input = 'Subject: hi\r\n\r\na\rb\r\n';
    assert.equal(stored(input), input);
  });

  test('an unterminated last line is stored with a CRLF', () => {
    assert.equal(stored('Subject: hi\r\n\r\nlast line'), 'Subject: hi\r\n\r\nlast line\r\n');
    assert.equal(stored('Subject: hi\r\n\r\nlast line\r'), 'Subject: hi\r\n\r\nlast line\r\n');
    assert.equal(stored('Subject: hi'), 'Subject: hi\r\n');
  });
});

describe('MessageIntake: header section', () => {
  test('the prepended trace header is the first thing stored, before the original first header', () => {
    const { out } = run('From: a@example.test\r\n\r\nbody\r\n');
    assert.equal(out.toString('utf8'), `${TRACE.toString()}From: a@example.test\r\n\r\nbody\r\n`);
  });

  test('without a prepend, the message is stored as it came', () => {
    const input = 'From: a@example.test\r\n\r\nbody\r\n';
    assert.equal(run(input, 'whole', LIMITS, Buffer.alloc(0)).out.toString(), input);
  });

  test('X-MSYS-API is removed from the stored message and parsed into result.msys', () => {
    const input =
      'From: a@example.test\r\n' +
      'X-MSYS-API: {"campaign_id":"spring","tags":["t1"],"options":{"open_tracking":false}}\r\n' +
      'Subject: hi\r\n\r\nbody\r\n';
    const { out, result } = run(input);
    const text = out.toString();
    assert.ok(!/x-msys-api/i.test(text));
    assert.equal(text.slice(TRACE.length), 'From: a@example.test\r\nSubject: hi\r\n\r\nbody\r\n');
    assert.deepEqual(result.msys, { campaign_id: 'spring', tags: ['t1'], options: { open_tracking: false } });
  });

  test('X-Sluice-Message-ID is believed only from a trusted relay with a valid signature, else removed', () => {
    const signer = new UpstreamIdSigner([{ id: 'k1', secret: 'a-secret-of-sixteen-chars' }]);
    const id = newMessageId();
    const idField = `X-Sluice-Message-ID: ${id}\r\n`;
    const signed = `${idField}X-Sluice-Message-Signature: ${signer.sign(id)}\r\n`;
    const through = (input: string, trusted: boolean) => {
      const intake = new MessageIntake(LIMITS, TRACE, { trusted, verifier: signer });
      const out = Buffer.concat(intake.push(Buffer.from(input)));
      const { tail, result } = intake.end();
      return { text: Buffer.concat([out, ...tail]).toString(), result };
    };
    // Trusted and signed: kept, the signature taken out.
    const kept = through(`From: a@example.test\r\n${signed}\r\nbody\r\n`, true);
    assert.equal(kept.result.upstreamId, id);
    assert.equal(kept.result.upstreamRefused, null);
    assert.ok(kept.text.includes(idField));
    assert.doesNotMatch(kept.text, /X-Sluice-Message-Signature/i);
    // Anything else: removed with its signature, and the reason said.
    const refused: Array<[string, boolean, string]> = [
      [signed, false, 'not from a trusted relay'],
      [idField, true, 'no signature'],
      [`${idField}X-Sluice-Message-Signature: 1:k1:AAAAAAAAAAAAAAAAAAAAAA\r\n`, true, 'bad signature'],
      [`${idField}X-Sluice-Message-Signature: 1:k9:${signer.sign(id).slice(5)}\r\n`, true, 'unknown key'],
      [`X-Sluice-Message-ID: 0123456789ABCDEF0123\r\n`, true, 'malformed id'],
      [`${signed}${idField}`, true, 'more than one id or signature'],
    ];
    for (const [fields, trusted, reason] of refused) {
      const { text, result } = through(`From: a@example.test\r\n${fields}\r\nbody\r\n`, trusted);
      assert.equal(result.upstreamId, null, reason);
      assert.equal(result.upstreamRefused, reason);
      assert.doesNotMatch(text, /X-Sluice-Message-(ID|Signature)/i, reason);
    }
    // Without any: nothing to refuse; a stray signature alone is removed too.
    const none = through('From: a@example.test\r\nX-Sluice-Message-Signature: x\r\n\r\nbody\r\n', true);
    assert.equal(none.result.upstreamRefused, null);
    assert.equal(none.text.slice(TRACE.length), 'From: a@example.test\r\n\r\nbody\r\n');
    // Without upstream trust given (the HTTP API's path), the id is never believed.
    assert.equal(run(`From: a@example.test\r\n${signed}\r\nbody\r\n`).result.upstreamId, null);
  });

  test('an upstream id is believed for 7 days after the time it carries', () => {
    let now = Date.now();
    const signer = new UpstreamIdSigner([{ id: 'k1', secret: 'a-secret-of-sixteen-chars' }], () => now);
    const id = newMessageId(now);
    const signature = signer.sign(id);
    assert.deepEqual(signer.verify(id, signature), { ok: true });
    now += UPSTREAM_ID_MAX_AGE_MS + 1;
    assert.deepEqual(signer.verify(id, signature), { ok: false, reason: 'expired' });
    // Rotation: a signature by an older key still verifies while that key is listed.
    const rotated = new UpstreamIdSigner([
      { id: 'k2', secret: 'another-secret-of-16' },
      { id: 'k1', secret: 'a-secret-of-sixteen-chars' },
    ]);
    const fresh = newMessageId();
    assert.deepEqual(rotated.verify(fresh, signer.sign(fresh)), { ok: true });
    assert.match(rotated.sign(fresh), /^1:k2:/);
  });

  test('a folded X-MSYS-API is removed with all its continuation lines and unfolded before parsing', () => {
    const input =
      'x-msys-api: {"campaign_id": "spring",\r\n' +
      '  "metadata": {"user": "42"},\r\n' +
      '\t"tags": ["a", "b"]}\r\n' +
      'Subject: hi\r\n\r\nbody\r\n';
    const { out, result } = run(input);
    assert.equal(out.subarray(TRACE.length).toString(), 'Subject: hi\r\n\r\nbody\r\n');
    assert.deepEqual(result.msys, { campaign_id: 'spring', metadata: { user: '42' }, tags: ['a', 'b'] });
  });

  test('no X-MSYS-API gives an empty msys', () => {
    assert.deepEqual(run('Subject: hi\r\n\r\nbody\r\n').result.msys, {});
  });

  test('an invalid X-MSYS-API rejects the message with 550 5.6.0', () => {
    assert.throws(() => run('X-MSYS-API: {nope\r\n\r\nbody\r\n'), rejection(550, '5.6.0'));
  });

  test('two X-MSYS-API headers reject the message with 550 5.6.0', () => {
    const input = 'X-MSYS-API: {"campaign_id":"a"}\r\nX-MSYS-API: {"campaign_id":"b"}\r\n\r\nbody\r\n';
    assert.throws(() => run(input), rejection(550, '5.6.0'));
  });

  test('Subject and From are noted; From is the bare address', () => {
    const { result } = run('From: "Ann Example" <ann@example.test>\r\nSubject: Hello there\r\n\r\nbody\r\n');
    assert.equal(result.subject, 'Hello there');
    assert.equal(result.from, 'ann@example.test');
  });

  test('RFC 2047 encoded words in Subject and From are decoded (B and Q, adjacent words joined)', () => {
    const input =
      'Subject: =?UTF-8?B?w4l0w6k=?= =?ISO-8859-1?Q?_caf=E9?= ok\r\n' +
      'From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.test>\r\n\r\n';
    const { result } = run(input);
    assert.equal(result.subject, 'Été café ok');
    assert.equal(result.from, 'jorg@example.test');
  });

  test('a folded Subject is unfolded; raw UTF-8 (SMTPUTF8) is read as UTF-8', () => {
    assert.equal(run('Subject: Grüße\r\n and more\r\n\r\n').result.subject, 'Grüße and more');
  });

  test('the first Subject and From win', () => {
    const { result } = run('Subject: one\r\nSubject: two\r\nFrom: a@x.test\r\nFrom: b@x.test\r\n\r\n');
    assert.equal(result.subject, 'one');
    assert.equal(result.from, 'a@x.test');
  });

  test('a message with no blank line (all header, no body) is stored as is and still parsed', () => {
    const input = 'Subject: only headers\r\nX-MSYS-API: {"campaign_id":"c"}\r\nFrom: a@x.test\r\n';
    const { out, result } = run(input);
    assert.equal(out.subarray(TRACE.length).toString(), 'Subject: only headers\r\nFrom: a@x.test\r\n');
    assert.equal(result.subject, 'only headers');
    assert.deepEqual(result.msys, { campaign_id: 'c' });
  });

  test('a blank line and no body after it is kept', () => {
    assert.equal(stored('Subject: s\r\n\r\n'), 'Subject: s\r\n\r\n');
  });

  test('an empty message is just the trace header', () => {
    const { out, result } = run('');
    assert.ok(out.equals(TRACE));
    assert.equal(result.size, TRACE.length);
    assert.equal(result.subject, '');
    assert.equal(result.from, '');
  });

  test('a line that is not a header field ends the header section; what follows is body, untouched', () => {
    const input =
      'Subject: s\r\n' +
      'this is not a header\r\n' +
      'X-MSYS-API: {"campaign_id":"in-body"}\r\n' +
      'more\r\n';
    const { out, result } = run(input);
    assert.equal(out.subarray(TRACE.length).toString(), input);
    assert.equal(result.subject, 's');
    assert.deepEqual(result.msys, {}, 'an X-MSYS-API line in the body is not a header');
  });

  test('a message starting with a non-header line is all body', () => {
    const input = 'hello world\r\nSubject: not a header here\r\n';
    const { out, result } = run(input);
    assert.equal(out.subarray(TRACE.length).toString(), input);
    assert.equal(result.subject, '');
  });
});

describe('MessageIntake: body', () => {
  test('the body passes through byte for byte: 8-bit bytes, header-like lines, dots, blank lines', () => {
    const bytes: number[] = [];
    for (let b = 1; b < 256; b++) if (b !== 10 && b !== 13) bytes.push(b);
    const body = Buffer.concat([
      Buffer.from('X-MSYS-API: {"campaign_id":"x"}\r\nSubject: also body\r\n.\r\n..leading dots\r\n\r\n'),
      Buffer.from(bytes),
      Buffer.from('\r\n\r\n\r\n'),
    ]);
    const input = Buffer.concat([Buffer.from('Subject: s\r\n\r\n'), body]);
    for (const chunking of ['whole', 'bytes', [3, 17, 40, 100]] as Chunking[]) {
      const { out, result } = run(input, chunking);
      assert.ok(out.subarray(out.length - body.length).equals(body), `body intact with ${String(chunking)}`);
      assert.deepEqual(result.msys, {});
    }
  });
});

describe('MessageIntake: limits and refusals', () => {
  test('a NUL byte is refused with 550 5.6.0, in the header or in the body', () => {
    assert.throws(() => run('Subject: a\0b\r\n\r\n'), rejection(550, '5.6.0'));
    assert.throws(() => run('Subject: a\r\n\r\nbo\0dy\r\n'), rejection(550, '5.6.0'));
    assert.throws(() => run('Subject: a\r\n\r\nbo\0dy\r\n', 'bytes'), rejection(550, '5.6.0'));
  });

  test('a line of exactly maxLineLength bytes is accepted, with CRLF or a bare LF', () => {
    const limits = { maxHeaderSize: 4096, maxLineLength: 20 };
    const line = 'x'.repeat(20);
    assert.equal(stored(`Subject: s\r\n\r\n${line}\r\n`, 'whole', limits), `Subject: s\r\n\r\n${line}\r\n`);
    assert.equal(stored(`Subject: s\r\n\r\n${line}\n`, 'whole', limits), `Subject: s\r\n\r\n${line}\r\n`);
    assert.equal(stored(`Subject: s\r\n\r\n${line}\r\n`, 'bytes', limits), `Subject: s\r\n\r\n${line}\r\n`);
    assert.equal(stored(`Subject: s\r\n\r\n${line}`, 'whole', limits), `Subject: s\r\n\r\n${line}\r\n`);
  });

  test('a line one byte longer than maxLineLength is refused with 552 5.3.4, however it ends', () => {
    const limits = { maxHeaderSize: 4096, maxLineLength: 20 };
    const line = 'x'.repeat(21);
    for (const ending of ['\r\n', '\n', '']) {
      for (const chunking of ['whole', 'bytes'] as Chunking[]) {
        assert.throws(
          () => run(`Subject: s\r\n\r\n${line}${ending}`, chunking, limits),
          rejection(552, '5.3.4'),
          `ending ${JSON.stringify(ending)}, ${String(chunking)}`,
        );
      }
    }
  });

  test('an over-long header line is refused too', () => {
    const limits = { maxHeaderSize: 100_000, maxLineLength: 50 };
    assert.throws(() => run(`Subject: ${'y'.repeat(60)}\r\n\r\n`, 'whole', limits), rejection(552, '5.3.4'));
  });

  test('a long line is refused as soon as it is too long, before its end arrives', () => {
    const intake = new MessageIntake({ maxHeaderSize: 4096, maxLineLength: 10 }, TRACE);
    intake.push(Buffer.from('Subject: s\r\n\r\n12345'));
    assert.throws(() => intake.push(Buffer.from('678901')), rejection(552, '5.3.4'));
  });

  test('a header section larger than maxHeaderSize is refused with 552 5.3.4', () => {
    const limits = { maxHeaderSize: 100, maxLineLength: 998 };
    const field = `X-Pad: ${'p'.repeat(20)}\r\n`; // 29 bytes
    assert.equal(stored(`${field.repeat(3)}\r\nbody\r\n`, 'whole', limits).length, 87 + 8);
    assert.throws(() => run(`${field.repeat(4)}\r\nbody\r\n`, 'whole', limits), rejection(552, '5.3.4'));
    assert.throws(() => run(`${field.repeat(4)}\r\nbody\r\n`, 'bytes', limits), rejection(552, '5.3.4'));
  });

  test('an over-large header section is refused while its last line is still arriving', () => {
    const intake = new MessageIntake({ maxHeaderSize: 100, maxLineLength: 998 }, TRACE);
    intake.push(Buffer.from(`Subject: ${'a'.repeat(80)}`));
    assert.throws(() => intake.push(Buffer.from('b'.repeat(30))), rejection(552, '5.3.4'));
  });

  test('a header section of exactly maxHeaderSize bytes is accepted, however it is chunked', () => {
    const limits = { maxHeaderSize: 100, maxLineLength: 998 };
    const header = `X-Pad: ${'p'.repeat(16)}\r\n`.repeat(4); // 4 × 25 = 100 bytes
    const input = `${header}\r\nbody\r\n`;
    for (const chunking of ['whole', 'bytes', [header.length + 1]] as Chunking[]) {
      assert.equal(stored(input, chunking, limits), input, `chunking ${String(chunking)}`);
    }
  });

  test('the body is not limited by maxHeaderSize', () => {
    const limits = { maxHeaderSize: 100, maxLineLength: 998 };
    const body = `${'z'.repeat(500)}\r\n`.repeat(10);
    assert.equal(stored(`Subject: s\r\n\r\n${body}`, 'whole', limits), `Subject: s\r\n\r\n${body}`);
  });
});

describe('MessageIntake: size', () => {
  test('result.size is the number of bytes handed out by push() and end(), trace header included', () => {
    const inputs = [
      'Subject: s\n\nbody\n',
      'Subject: s\r\nX-MSYS-API: {"tags":["a"]}\r\n\r\nbody',
      'not a header\nbody',
      'Subject: only',
      '',
    ];
    for (const input of inputs) {
      for (const chunking of ['whole', 'bytes'] as Chunking[]) {
        const { out, result, handedOut } = run(input, chunking);
        assert.equal(result.size, handedOut);
        assert.equal(result.size, out.length);
      }
    }
  });
});

describe('MessageIntake: chunking does not matter (property)', () => {
  /** Small deterministic PRNG (mulberry32), so a failure can be reproduced from its seed. */
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  const inputs = [
    'From: "Ann" <ann@example.test>\nX-MSYS-API: {"campaign_id": "c1",\n  "tags": ["x", "y"]}\r\n' +
      'Subject: =?UTF-8?B?w4l0w6k=?=\n\nline\r\n\nline with lone \r CR\n.\n..\nlast without end',
    'Subject: s\r\nnot a header\r\nX-MSYS-API: {}\r\n\r\n\r\n\n\n',
    'X-Long: a\r\n b\r\n\tc\r\n\r\nbody\r',
  ];

  test('200 random chunkings per input give the same bytes and the same result as one chunk', () => {
    const random = prng(20240101);
    for (const text of inputs) {
      const input = Buffer.from(text, 'utf8');
      const expected = run(input);
      assert.deepEqual(run(input, 'bytes'), expected);
      for (let i = 0; i < 200; i++) {
        const cuts = Array.from({ length: Math.floor(random() * 12) }, () =>
          Math.floor(random() * (input.length + 1)),
        );
        const got = run(input, cuts);
        assert.ok(got.out.equals(expected.out), `cuts ${JSON.stringify(cuts)} changed the bytes`);
        assert.deepEqual(got.result, expected.result, `cuts ${JSON.stringify(cuts)} changed the result`);
      }
    }
  });

  test('whether a message is refused for its size limits does not depend on the chunking', () => {
    const limits = { maxHeaderSize: 60, maxLineLength: 30 };
    const outcome = (input: string, chunking: Chunking) => {
      try {
        run(input, chunking, limits);
        return 'accepted';
      } catch (error) {
        return error instanceof Rejection ? error.toString() : `crash: ${String(error)}`;
      }
    };
    const random = prng(99);
    const inputs: string[] = [];
    for (let n = 20; n <= 40; n++) {
      inputs.push(`Subject: ${'s'.repeat(n)}\r\n\r\nbody\r\n`); // header line around the line limit
      inputs.push(`Subject: s\r\n\r\n${'b'.repeat(n)}\n`); // body line around the line limit, bare LF
      // Header sections of 55 to 75 bytes in lines shorter than the line limit, with CRLF and bare LF.
      const header = `A: ${'a'.repeat(n - 20)}\r\n${`B: ${'b'.repeat(20)}\r\n`.repeat(2)}`;
      inputs.push(`${header}\r\nbody\r\n`);
      inputs.push(`${header}\r\nbody\r\n`.replace(/\r\n/g, '\n'));
    }
    const seen = new Set<string>();
    for (const input of inputs) {
      const expected = outcome(input, 'whole');
      seen.add(expected.startsWith('552') ? 'refused' : expected);
      assert.equal(outcome(input, 'bytes'), expected, JSON.stringify(input));
      for (let i = 0; i < 20; i++) {
        const cuts = [Math.floor(random() * input.length), Math.floor(random() * input.length)];
        assert.equal(outcome(input, cuts), expected, `${JSON.stringify(input)} cut at ${cuts}`);
      }
    }
    assert.deepEqual([...seen].sort(), ['accepted', 'refused'], 'the inputs straddle the limits');
  });

  test('random chunkings of a CRLF message reproduce it exactly (after the trace header)', () => {
    const random = prng(7);
    const text = 'Subject: s\r\nFrom: a@x.test\r\n\r\n' + 'abc\r\n\r\ndef\r\n'.repeat(20);
    for (let i = 0; i < 200; i++) {
      const cuts = Array.from({ length: 1 + Math.floor(random() * 20) }, () =>
        Math.floor(random() * (text.length + 1)),
      );
      assert.equal(stored(text, cuts), text);
    }
  });
});
