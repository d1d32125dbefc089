/**
 * Specifies when `sluice serve` greets, over raw loopback sockets:
 * - by default at once: smtp-server on its own waits a fixed 100 ms before every 220
 *   (SMTPConnection.init), which capped clients that open a connection per message at 10
 *   messages a second each; src/smtp/greeting.ts hooks that. Guarded two ways, so an upgrade of
 *   smtp-server that brings the delay back fails here: the greeting comes exactly once (the
 *   library's own timer, still armed, must not greet a second time), and 90% of 50 connections
 *   get their 220 within 50 ms. This is the one timing assertion the issue asks for, and it guards
 *   a fixed pause, not a speed: with the pause back, not one connection gets its greeting within
 *   100 ms (a timer never fires early), while on a loaded machine a few may be slow for other
 *   reasons, which is why it is the 90th percentile and not the 99th;
 * - with smtp.greet_pause, for the clients greet_pause_networks names: a client that talks first
 *   gets "554 5.5.1" and nothing else, and is disconnected; a patient one is greeted after the
 *   pause and its mail is accepted; a client outside those networks is greeted at once and may
 *   pipeline its EHLO right after connecting.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RawSmtp } from '../harness/clients.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const CONNECTS = 50;
const PAUSE_MS = 400;
/** A loopback source address named in greet_pause_networks (Linux routes all of 127/8 to lo). */
const PAUSED = '127.0.0.2';

let sink: Sink;
let plain: SluiceProcess;
let paused: SluiceProcess;

before(async () => {
  sink = await startSink();
  [plain, paused] = await Promise.all([
    startSluice({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'log.level': 'warn' } }),
    startSluice({
      overrides: {
        'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
        'smtp.greet_pause': `${PAUSE_MS}ms`,
        'smtp.greet_pause_networks': `["${PAUSED}/32"]`,
      },
    }),
  ]);
});

after(async () => {
  await Promise.all([plain?.stop(), paused?.stop()]);
  await sink?.stop();
});

/** ms from starting the TCP connect to the first complete line, and that line. */
function timeGreeting(port: number): Promise<{ ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const socket = net.connect({ port, host: '127.0.0.1' });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const eol = text.indexOf('\r\n');
      if (eol === -1) return;
      const ms = performance.now() - start;
      socket.destroy();
      resolve({ ms, line: text.slice(0, eol) });
    });
    socket.once('error', reject);
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`no greeting within 10 s (got ${JSON.stringify(text)})`));
    });
  });
}

describe('greeting by default', () => {
  test(`connect → 220 p90 over ${CONNECTS} connections stays far below smtp-server's fixed 100 ms`, async () => {
    const times: number[] = [];
    for (let i = 0; i < CONNECTS; i++) {
      const { ms, line } = await timeGreeting(plain.smtpPort);
      assert.match(line, /^220 /);
      times.push(ms);
    }
    times.sort((a, b) => a - b);
    const p90 = times[Math.ceil(0.9 * times.length) - 1]!;
    assert.ok(p90 < 50, `p90 ${p90.toFixed(1)} ms (all: ${times.map((t) => t.toFixed(1)).join(' ')})`);
  });

  test("the greeting comes once: smtp-server's own delayed call does not greet again", async () => {
    const client = await RawSmtp.open(plain.smtpPort);
    try {
      // Past the library's 100 ms timer: a second 220 would now be the next reply read.
      await sleep(250);
      const noop = await client.command('NOOP');
      assert.equal(noop.code, 250, noop.raw);
    } finally {
      await client.quit();
    }
  });

  test('the submission listener greets at once too', async () => {
    const times: number[] = [];
    for (let i = 0; i < 9; i++) {
      const { ms, line } = await timeGreeting(plain.submissionPort);
      assert.match(line, /^220 /);
      times.push(ms);
    }
    const median = times.sort((a, b) => a - b)[4]!;
    assert.ok(median < 50, `median ${median.toFixed(1)} ms`);
  });
});

describe('smtp.greet_pause', () => {
  test('a client in greet_pause_networks that talks before the greeting gets 554 5.5.1 and is closed', async () => {
    const socket = net.connect({ port: paused.smtpPort, host: '127.0.0.1', localAddress: PAUSED });
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write('EHLO early.example\r\nMAIL FROM:<bot@example.com>\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    assert.equal(text, '554 5.5.1 Protocol error: talked before the greeting\r\n', 'one reply, then EOF');
    await waitForLog(paused, 'client talked before the greeting');
  });

  test('a patient client in greet_pause_networks is greeted after the pause and its mail is accepted', async () => {
    const start = performance.now();
    const client = await RawSmtp.open(paused.smtpPort, PAUSED);
    const waited = performance.now() - start;
    try {
      // A timer never fires early; the margin is for clock granularity only.
      assert.ok(waited >= PAUSE_MS - 5, `greeted after ${waited.toFixed(0)} ms, before the pause`);
      assert.equal((await client.command('EHLO patient.example')).code, 250);
      assert.equal((await client.command('MAIL FROM:<app@example.com>')).code, 250);
      assert.equal((await client.command('RCPT TO:<you@example.net>')).code, 250);
      assert.equal((await client.command('DATA')).code, 354);
      const queued = await client.command('Subject: patient\r\n\r\nHello.\r\n.');
      assert.equal(queued.code, 250, queued.raw);
    } finally {
      await client.quit();
    }
  });

  test('a client outside greet_pause_networks is greeted at once and may send EHLO with its connect', async () => {
    const client = await RawSmtp.connect(paused.smtpPort, '127.0.0.1');
    try {
      client.write('EHLO eager.example\r\n');
      const greeting = await client.read();
      assert.equal(greeting.code, 220, greeting.raw);
      const ehlo = await client.read();
      assert.equal(ehlo.code, 250, ehlo.raw);
    } finally {
      await client.quit();
    }
  });
});

async function waitForLog(sluice: SluiceProcess, text: string): Promise<void> {
  for (let waited = 0; !sluice.output().includes(text); waited += 25) {
    if (waited > 5_000) assert.fail(`no "${text}" in the log:\n${sluice.output().slice(-2000)}`);
    await sleep(25);
  }
}
