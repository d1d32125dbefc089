/**
 * Specifies the per-connection limits of the SMTP door: one client address may hold at most
 * smtp.max_connections_per_ip connections (the next gets 421 4.7.0 and is closed; a freed slot is
 * usable again at once), and a connection idle for smtp.idle_timeout is closed with a 421 that
 * carries an enhanced code. The server keeps serving other clients throughout.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RawSmtp } from '../harness/clients.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sluice: SluiceProcess;

before(async () => {
  sluice = await startSluice({ overrides: { 'smtp.max_connections_per_ip': 2, 'smtp.idle_timeout': '1s' } });
});

after(async () => {
  await sluice.stop();
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
