/**
 * Specifies log.format: text line by line: a delivery outcome reads as Postfix's (message_id, to
 * in angle brackets, relay host[ip]:port, delay, dsn, status, then the reply in parentheses, on
 * one line whatever the reply held); other events are their message and key=value fields, quoted
 * when they hold spaces; the level as Postfix says it; the program named by its service.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { textLine } from '../src/log-text.js';

const time = '2026-05-01T10:00:00.123Z';

test('a delivery outcome is one Postfix line, the reply last in parentheses', () => {
  assert.equal(
    textLine({
      level: 30,
      time,
      pid: 812,
      message_id: '01a2b3c4d5e6f7a8b9c0',
      to: 'you@example.net',
      relay: 'mx.example.net[192.0.2.1]:25',
      delay: 1.25,
      dsn: '2.0.0',
      status: 'sent',
      reply: '250 2.0.0 Ok:\r\n queued as 123',
      msg: 'sent',
    }),
    `${time} sluice[812]: message_id=01a2b3c4d5e6f7a8b9c0 to=<you@example.net> relay=mx.example.net[192.0.2.1]:25 delay=1.25 dsn=2.0.0 status=sent (250 2.0.0 Ok: queued as 123)\n`,
  );
  assert.equal(
    textLine({
      level: 40,
      time,
      pid: 9,
      message_id: 'x',
      to: 'a@b',
      relay: 'none',
      delay: 0.5,
      dsn: '4.4.1',
      status: 'deferred',
      reply: 'connection refused',
    }),
    `${time} sluice[9]: warning: message_id=x to=<a@b> relay=none delay=0.5 dsn=4.4.1 status=deferred (connection refused)\n`,
  );
});

test('other events: the message, then key=value fields, quoted when needed; the service names the program', () => {
  assert.equal(
    textLine({ level: 30, time, pid: 1, msg: 'listening', listener: 'smtp', address: '127.0.0.1:2525' }),
    `${time} sluice[1]: listening listener=smtp address=127.0.0.1:2525\n`,
  );
  assert.equal(
    textLine({
      level: 40,
      time,
      pid: 2,
      service: 'milter',
      msg: 'redis unavailable',
      at: '127.0.0.1:6379',
      answers: 'SMTP AUTH 454 4.7.0; "quoted"',
      count: 3,
      flags: { a: 1 },
      nothing: null,
    }),
    `${time} sluice/milter[2]: warning: redis unavailable at=127.0.0.1:6379 answers="SMTP AUTH 454 4.7.0; \\"quoted\\"" count=3 flags="{\\"a\\":1}" nothing=null\n`,
  );
  assert.equal(
    textLine({
      level: 50,
      time,
      pid: 3,
      msg: 'queue error',
      err: { type: 'Error', message: 'disk full', stack: 'Error: disk full\n    at x' },
    }),
    `${time} sluice[3]: error: queue error err="disk full"\n`,
    'an error by its message, never its stack',
  );
  assert.equal(
    textLine({
      level: 50,
      time,
      pid: 3,
      msg: 'auth lookup failed',
      err: { store: 'unavailable', reason: 'not answering' },
    }),
    `${time} sluice[3]: error: auth lookup failed err="store unavailable: not answering"\n`,
  );
  assert.equal(
    textLine({ level: 20, time, pid: 4, msg: 'policy request' }),
    `${time} sluice[4]: debug: policy request\n`,
  );
});
