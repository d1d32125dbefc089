/**
 * Specifies TLS session resumption on the submission listener of a real `sluice serve`: an app
 * that opens a connection per message can skip the full handshake from its second connection on.
 * A client that offers the session ticket of its previous connection (TLS 1.3, and TLS 1.2 with
 * RFC 5077 tickets) after STARTTLS is resumed, and on the resumed session AUTH PLAIN with an API
 * key and a message go through as on a full handshake. A client that offers nothing gets a full
 * handshake. (Resumption by TLS 1.2 session id alone, without tickets, is not offered: smtp-server
 * gives its TLS sockets no server-side session cache.)
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { createKey } from '../harness/clients.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
let sluice: SluiceProcess;
let key: string;

before(async () => {
  sink = await startSink();
  sluice = await startSluice({
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}`, 'log.level': 'warn' },
  });
  key = (await createKey(sluice.dataDir, { label: 'resumption' })).key;
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
});

/** Reads complete SMTP replies (last line "NNN text") from a stream. */
function replies(stream: net.Socket | tls.TLSSocket) {
  let text = '';
  const waiting: Array<() => void> = [];
  const onData = (chunk: Buffer) => {
    text += chunk.toString('latin1');
    for (const wake of waiting.splice(0)) wake();
  };
  stream.on('data', onData);
  return {
    async next(): Promise<string> {
      for (;;) {
        const end = /(^|\r\n)\d{3} [^\r\n]*\r\n/.exec(text);
        if (end) {
          const reply = text.slice(0, end.index + end[0].length);
          text = text.slice(reply.length);
          return reply;
        }
        await new Promise<void>((resolve, reject) => {
          waiting.push(resolve);
          stream.once('close', () => reject(new Error(`closed; got ${JSON.stringify(text)}`)));
        });
      }
    },
    stop: () => stream.off('data', onData),
  };
}

interface Session {
  resumed: boolean;
  protocol: string | null;
  ticket: Buffer | undefined;
}

/** One connection: EHLO, STARTTLS (offering `ticket`), EHLO, AUTH PLAIN, one message, QUIT. */
async function submit(maxVersion: tls.SecureVersion, ticket?: Buffer): Promise<Session> {
  const plain = net.connect({ port: sluice.submissionPort, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    plain.once('connect', resolve);
    plain.once('error', reject);
  });
  const before = replies(plain);
  assert.match(await before.next(), /^220 /);
  plain.write('EHLO app.example\r\n');
  assert.match(await before.next(), /STARTTLS/);
  plain.write('STARTTLS\r\n');
  assert.match(await before.next(), /^220 /);
  before.stop();
  const secure = tls.connect({
    socket: plain,
    rejectUnauthorized: false,
    maxVersion,
    ...(ticket ? { session: ticket } : {}),
  });
  let latest: Buffer | undefined;
  secure.on('session', (session: Buffer) => {
    latest = session;
  });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  const after = replies(secure);
  const step = async (line: string, expected: RegExp) => {
    secure.write(`${line}\r\n`);
    const reply = await after.next();
    assert.match(reply, expected, `${line} → ${reply}`);
  };
  await step('EHLO app.example', /^250[ -]/);
  await step(`AUTH PLAIN ${Buffer.from(`\0SMTP_Injection\0${key}`).toString('base64')}`, /^235 /);
  await step('MAIL FROM:<app@example.com>', /^250 /);
  await step('RCPT TO:<you@example.net>', /^250 /);
  await step('DATA', /^354 /);
  await step('Subject: resumed?\r\n\r\nHello.\r\n.', /^250 /);
  await step('QUIT', /^221 /);
  const session = {
    resumed: secure.isSessionReused(),
    protocol: secure.getProtocol(),
    ticket: latest ?? ticket,
  };
  secure.destroy();
  return session;
}

for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
  test(`${version}: the ticket of the first connection resumes the next ones; AUTH and DATA work on them`, async () => {
    const first = await submit(version);
    assert.equal(first.protocol, version);
    assert.equal(first.resumed, false, 'nothing offered: a full handshake');
    assert.ok(first.ticket, 'the server issued a session ticket');
    const second = await submit(version, first.ticket);
    assert.equal(second.resumed, true, 'the offered ticket was accepted');
    const third = await submit(version, second.ticket);
    assert.equal(third.resumed, true);
    assert.equal((await submit(version)).resumed, false, 'a client offering nothing: full handshake');
  });
}
