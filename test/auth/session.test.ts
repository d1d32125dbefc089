/**
 * Specifies the auth session (src/auth/session.ts) without sockets: the handshake it sends, the
 * VERSION/CPID order it requires, PLAIN and LOGIN conversations by id, the answers it gives for
 * core's verdicts, failure delays that do not hold up other requests, expiry and the pending limit.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { pino } from 'pino';
import { AuthSession, type SessionOptions } from '../../src/auth/session.js';
import { decodeLine } from '../../src/auth/wire.js';
import { AuthThrottle } from '../../src/core/auth-throttle.js';
import type { SmtpLoginResult } from '../../src/core/smtp-login.js';
import type { ApiKeyRecord } from '../../src/store/types.js';

const KEY = { id: 'k1' } as ApiKeyRecord;
const GOOD = 'a'.repeat(40);
const b64 = (s: string) => Buffer.from(s).toString('base64');
const plain = (user: string, pass: string, authz = '') => b64(`${authz}\0${user}\0${pass}`);

interface Harness {
  session: AuthSession;
  sent: string[];
  closed: () => boolean;
  calls: Array<{ user: string; pass: string; ip: string; authzid?: string }>;
  feed(...lines: string[]): void;
  /** Lines sent after the handshake. */
  replies(): string[];
  settle(): Promise<void>;
}

// Fake setTimeout: failure delays and expiry run on mock.timers.tick(), not on the wall clock.
const sessions: AuthSession[] = [];
beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
afterEach(() => {
  for (const s of sessions.splice(0)) s.end();
  mock.timers.reset();
});

function harness(options: Partial<SessionOptions> = {}, delayMs = 0): Harness {
  const sent: string[] = [];
  let closed = false;
  const calls: Harness['calls'] = [];
  const session = new AuthSession({
    async verify(user, pass, ip, authzid): Promise<SmtpLoginResult> {
      calls.push({ user, pass, ip, ...(authzid ? { authzid } : {}) });
      // Stands in for core's rule (test/core/smtp-login.test.ts): the session only passes it on.
      if (authzid !== '' && authzid !== user) return { ok: false, reason: 'authzid' };
      if (pass === 'explode') throw new Error('store down');
      if (user !== 'SMTP_Injection') return { ok: false, reason: 'user' };
      return pass === GOOD ? { ok: true, key: KEY } : { ok: false, reason: 'unknown' };
    },
    throttle: new AuthThrottle(delayMs),
    send: (line) => sent.push(line),
    close: () => {
      closed = true;
    },
    log: pino({ level: 'silent' }),
    options: { service: 'smtp', allowInsecure: false, maxPending: 8, pendingTimeoutMs: 60_000, ...options },
    identity: { spid: '1', cuid: '2', cookie: 'c0ffee' },
  });
  sessions.push(session);
  session.start();
  const handshakeLength = sent.length;
  return {
    session,
    sent,
    closed: () => closed,
    calls,
    feed(...lines) {
      for (const l of lines) {
        const decoded = decodeLine(Buffer.from(l));
        if (decoded.ok) session.receive(decoded.message);
        else session.protocolError(decoded.error);
      }
    },
    replies: () => sent.slice(handshakeLength).map((l) => l.replace(/\n$/, '')),
    // Lets core's (already resolved) verdicts arrive (setImmediate is not faked), then runs
    // failure replies due now (a zero delay).
    settle: async () => {
      await new Promise((resolve) => setImmediate(resolve));
      mock.timers.tick(0);
    },
  };
}

const READY = ['VERSION\t1\t0', 'CPID\t99'];
const auth = (id: number, rest: string, rip = '127.0.0.1') =>
  `AUTH\t${id}\t${rest.split(' ')[0]}\tservice=smtp\tnologin\tlip=127.0.0.1\trip=${rip}\tsecured${rest
    .split(' ')
    .slice(1)
    .map((p) => `\t${p}`)
    .join('')}`;

describe('handshake', () => {
  test('announces version 1, PLAIN and LOGIN as plaintext mechanisms, then SPID, CUID, COOKIE, DONE (Dovecot order)', () => {
    const h = harness();
    assert.deepEqual(h.sent, [
      'VERSION\t1\t2\n',
      'MECH\tPLAIN\tplaintext\n',
      'MECH\tLOGIN\tplaintext\n',
      'SPID\t1\n',
      'CUID\t2\n',
      'COOKIE\tc0ffee\n',
      'DONE\n',
    ]);
  });

  test('another major version, AUTH before VERSION or before CPID, or a codec error closes', () => {
    for (const lines of [
      ['VERSION\t2\t0'],
      [auth(1, 'PLAIN')],
      ['VERSION\t1\t0', auth(1, 'PLAIN')],
      ['BOGUS'],
    ]) {
      const h = harness();
      h.feed(...lines);
      assert.equal(h.closed(), true, lines.join(' | '));
      assert.deepEqual(h.replies(), []);
    }
  });
});

describe('PLAIN', () => {
  test('a valid key in resp= gets OK with user=<key id>; core sees the rip', async () => {
    const h = harness();
    h.feed(...READY, auth(1, `PLAIN resp=${plain('SMTP_Injection', GOOD)}`, '::ffff:192.0.2.7'));
    await h.settle();
    assert.deepEqual(h.replies(), ['OK\t1\tuser=k1']);
    assert.deepEqual(h.calls, [{ user: 'SMTP_Injection', pass: GOOD, ip: '192.0.2.7' }]);
  });

  test('without resp=, an empty CONT challenge first', async () => {
    const h = harness();
    h.feed(...READY, auth(5, 'plain'));
    assert.deepEqual(h.replies(), ['CONT\t5\t']);
    h.feed(`CONT\t5\t${plain('SMTP_Injection', GOOD, 'SMTP_Injection')}`);
    await h.settle();
    assert.deepEqual(h.replies().at(-1), 'OK\t5\tuser=k1');
  });

  test('a wrong key, a wrong user or another authzid fails with a generic reason and no user=', async () => {
    const h = harness();
    h.feed(
      ...READY,
      auth(1, `PLAIN resp=${plain('SMTP_Injection', 'b'.repeat(40))}`),
      auth(2, `PLAIN resp=${plain('admin', GOOD)}`),
      auth(3, `PLAIN resp=${plain('SMTP_Injection', GOOD, 'root')}`),
    );
    await h.settle();
    assert.deepEqual(
      h.replies().sort(),
      [1, 2, 3].map((id) => `FAIL\t${id}\treason=Authentication failed`),
    );
    assert.deepEqual(
      h.calls.find((c) => c.authzid),
      { user: 'SMTP_Injection', pass: GOOD, ip: '127.0.0.1', authzid: 'root' },
      'the authzid goes to core, which decides',
    );
  });

  test('bad base64 or a payload without two NULs fails without asking core', async () => {
    const h = harness();
    h.feed(...READY, auth(1, 'PLAIN resp=@@@'), auth(2, `PLAIN resp=${b64('just-a-password')}`));
    await h.settle();
    assert.deepEqual(h.replies(), [
      'FAIL\t1\treason=Invalid base64 data',
      'FAIL\t2\treason=Invalid PLAIN data',
    ]);
    assert.equal(h.calls.length, 0);
  });
});

describe('LOGIN', () => {
  test('Username: then Password: challenges, then OK', async () => {
    const h = harness();
    h.feed(...READY, auth(3, 'LOGIN'));
    h.feed(`CONT\t3\t${b64('SMTP_Injection')}`);
    h.feed(`CONT\t3\t${b64(GOOD)}`);
    await h.settle();
    assert.deepEqual(h.replies(), [
      `CONT\t3\t${b64('Username:')}`,
      `CONT\t3\t${b64('Password:')}`,
      'OK\t3\tuser=k1',
    ]);
  });

  test('an initial response is the user name', async () => {
    const h = harness();
    h.feed(...READY, auth(4, `LOGIN resp=${b64('SMTP_Injection')}`), `CONT\t4\t${b64(GOOD)}`);
    await h.settle();
    assert.deepEqual(h.replies(), [`CONT\t4\t${b64('Password:')}`, 'OK\t4\tuser=k1']);
  });
});

describe('refusals before any credential is read', () => {
  test('without secured (no TLS) unless allowed; another service; another mechanism', async () => {
    const h = harness();
    h.feed(...READY, `AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp=${plain('SMTP_Injection', GOOD)}`);
    h.feed('AUTH\t2\tPLAIN\tservice=imap\tsecured', 'AUTH\t3\tCRAM-MD5\tservice=smtp\tsecured');
    assert.deepEqual(h.replies(), [
      'FAIL\t1\treason=Plaintext authentication disallowed on non-secure connections',
      'FAIL\t2\treason=Unsupported service',
      'FAIL\t3\treason=Unsupported authentication mechanism',
    ]);
    const insecure = harness({ allowInsecure: true });
    insecure.feed(
      ...READY,
      `AUTH\t1\tPLAIN\tservice=smtp\trip=127.0.0.1\tresp=${plain('SMTP_Injection', GOOD)}`,
    );
    await insecure.settle();
    assert.deepEqual(insecure.replies(), ['OK\t1\tuser=k1']);
  });
});

describe('concurrency and limits', () => {
  test("a delayed failure does not hold up another request's OK on the same connection", async () => {
    const h = harness({}, 200);
    h.feed(...READY, auth(1, `PLAIN resp=${plain('SMTP_Injection', 'x')}`, '198.51.100.1'));
    h.feed(auth(2, `PLAIN resp=${plain('SMTP_Injection', GOOD)}`));
    await h.settle();
    assert.deepEqual(h.replies(), ['OK\t2\tuser=k1'], 'the OK went out while the FAIL waits');
    assert.equal(h.session.pendingCount, 1);
    mock.timers.tick(200);
    assert.deepEqual(h.replies(), ['OK\t2\tuser=k1', 'FAIL\t1\treason=Authentication failed']);
  });

  test('a store error is a temporary failure', async () => {
    const h = harness();
    h.feed(...READY, auth(1, `PLAIN resp=${plain('SMTP_Injection', 'explode')}`));
    await h.settle();
    assert.deepEqual(h.replies(), ['FAIL\t1\treason=Temporary authentication failure\ttemp\tcode=temp_fail']);
  });

  test('a duplicate id closes; CONT for an unknown id fails; CANCEL forgets', () => {
    const h = harness();
    h.feed(...READY, auth(1, 'LOGIN'), 'CANCEL\t1', `CONT\t1\t${b64('x')}`);
    assert.deepEqual(h.replies().slice(1), ['FAIL\t1\treason=Authentication failed']);
    h.feed(auth(2, 'LOGIN'), auth(2, 'LOGIN'));
    assert.equal(h.closed(), true);
  });

  test('past maxPending the oldest waiting conversation is dropped', () => {
    const h = harness({ maxPending: 2 });
    h.feed(...READY, auth(1, 'LOGIN'), auth(2, 'LOGIN'), auth(3, 'LOGIN'));
    assert.ok(h.replies().includes('FAIL\t1\treason=Too many pending requests'));
    assert.equal(h.session.pendingCount, 2);
  });

  test('a conversation waiting too long for its next step expires', async () => {
    const h = harness({ pendingTimeoutMs: 20 });
    h.feed(...READY, auth(1, 'LOGIN'));
    mock.timers.tick(20);
    assert.deepEqual(h.replies().at(-1), 'FAIL\t1\treason=Authentication timed out');
    assert.equal(h.session.pendingCount, 0);
  });

  test('after end() nothing more is sent, not even a delayed failure', async () => {
    const h = harness({}, 20);
    h.feed(...READY, auth(1, `PLAIN resp=${plain('SMTP_Injection', 'x')}`));
    await h.settle();
    const before = h.sent.length;
    h.session.end();
    mock.timers.tick(20);
    assert.equal(h.sent.length, before);
  });
});
