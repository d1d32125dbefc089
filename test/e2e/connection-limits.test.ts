/**
 * Specifies the per-connection limits of the SMTP door: one client address may hold at most
 * smtp.max_connections_per_ip connections (the next gets 421 4.7.0 and is closed; a freed slot is
 * usable again at once), and a connection idle for smtp.idle_timeout is closed with a 421 that
 * carries an enhanced code. The server keeps serving other clients throughout: another address
 * still gets in while one is at its limit. Past smtp.max_connections on a listener, a new client
 * gets 421 4.3.2 (all ports busy, as Postfix's postscreen says), and a freed slot is usable again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawSmtp } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;
/** Small caps and the default idle timeout: connections stay while a case holds them. */
let crowded: SluiceProcess;

before(async () => {
  [sluice, crowded] = await Promise.all([
    startSluice({ overrides: { 'smtp.max_connections_per_ip': 2, 'smtp.idle_timeout': '1s' } }),
    startSluice({ overrides: { 'smtp.max_connections_per_ip': 2, 'smtp.max_connections': 4 } }),
  ]);
});

after(async () => {
  await Promise.all([sluice?.stop(), crowded?.stop()]);
});

test('the connection over max_connections_per_ip gets 421 4.7.0; a freed slot is usable again', async () => {
  const first = await RawSmtp.open(sluice.smtpPort);
  const second = await RawSmtp.open(sluice.smtpPort);
  const third = await RawSmtp.connect(sluice.smtpPort);
  try {
    const refused = await third.read();
    assert.equal(refused.code, 421);
    assert.match(refused.raw, /^421 4\.7\.0 Too many connections from your address/);
    await third.closed;

    const stillServed = await second.command('EHLO client.example');
    assert.equal(stillServed.code, 250, 'the connections within the limit keep working');

    await first.quit();
    const fourth = await RawSmtp.open(sluice.smtpPort);
    assert.equal((await fourth.command('NOOP')).code, 250);
    await fourth.quit();
  } finally {
    await Promise.all([first.quit(), second.quit(), third.quit()]);
  }
});

test('a connection idle past idle_timeout is told 421 with an enhanced code and closed', async () => {
  const idle = await RawSmtp.open(sluice.smtpPort);
  await idle.command('EHLO client.example');
  const goodbye = await idle.read(10_000);
  assert.equal(goodbye.code, 421);
  assert.match(goodbye.raw, /^421 4\.\d+\.\d+ /);
  await idle.closed;
  assert.ok(idle.isClosed);

  const fresh = await RawSmtp.open(sluice.smtpPort);
  assert.equal((await fresh.command('EHLO client.example')).code, 250, 'the server is still up');
  await fresh.quit();
});

test('one address at max_connections_per_ip gets 421 4.7.0 while another address still gets in', async () => {
  const held = [
    await RawSmtp.open(crowded.smtpPort, '127.0.0.2'),
    await RawSmtp.open(crowded.smtpPort, '127.0.0.2'),
  ];
  try {
    const third = await RawSmtp.connect(crowded.smtpPort, '127.0.0.2');
    assert.match((await third.read()).raw, /^421 4\.7\.0 Too many connections from your address/);
    await third.closed;
    const other = await RawSmtp.open(crowded.smtpPort, '127.0.0.3');
    assert.equal((await other.command('EHLO other.example')).code, 250, 'another address is served');
    await other.quit();
  } finally {
    await Promise.all(held.map((client) => client.quit()));
  }
});

test('past smtp.max_connections a new client gets 421 4.3.2; a freed slot is usable again', async () => {
  const held = [
    await RawSmtp.open(crowded.smtpPort, '127.0.0.4'),
    await RawSmtp.open(crowded.smtpPort, '127.0.0.4'),
    await RawSmtp.open(crowded.smtpPort, '127.0.0.5'),
    await RawSmtp.open(crowded.smtpPort, '127.0.0.5'),
  ];
  try {
    const fifth = await RawSmtp.connect(crowded.smtpPort, '127.0.0.6');
    assert.match((await fifth.read()).raw, /^421 4\.3\.2 .*Too many connected clients/);
    await fifth.closed;
    // The submission listener has a budget of its own.
    const submission = await RawSmtp.open(crowded.submissionPort, '127.0.0.6');
    await submission.quit();
    await held.pop()!.quit();
    const next = await waitFor(
      async () => {
        const client = await RawSmtp.connect(crowded.smtpPort, '127.0.0.6');
        if ((await client.read()).code === 220) return client;
        await client.quit();
        return null;
      },
      10_000,
      'a freed slot',
    );
    held.push(next!);
    assert.equal((await next!.command('EHLO next.example')).code, 250);
  } finally {
    await Promise.all(held.map((client) => client.quit()));
  }
});
