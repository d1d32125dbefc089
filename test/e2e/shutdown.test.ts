/**
 * Specifies SIGTERM for a real `sluice serve`: while idle it exits with status 0, the process is gone
 * and its listeners are closed; a message it accepted is never lost across the stop: it was either
 * delivered before, or it is still in DATA_DIR/spool/queue and a new process on the same data dir
 * delivers it (once).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { searchEvents, swaks } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let sink: Sink;
const started: SluiceProcess[] = [];
const dirs: string[] = [];

before(async () => {
  sink = await startSink();
});

after(async () => {
  await Promise.all(started.map((s) => s.stop('SIGKILL')));
  await sink?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function start(options: Parameters<typeof startSluice>[0]): Promise<SluiceProcess> {
  const sluice = await startSluice(options);
  started.push(sluice);
  if (!dirs.includes(sluice.dataDir)) dirs.push(sluice.dataDir);
  return sluice;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

function spoolIds(dataDir: string): string[] {
  return readdirSync(path.join(dataDir, 'spool', 'queue')).filter((name) => /^[0-9a-f]{20}$/.test(name));
}

async function inject(sluice: SluiceProcess, rcpt: string): Promise<string> {
  const result = await swaks({
    port: sluice.smtpPort,
    from: 'app@example.com',
    to: [rcpt],
    data: Buffer.from(`From: app@example.com\r\nSubject: before the stop\r\n\r\nbody\r\n`),
  });
  assert.equal(result.code, 0, result.stdout);
  assert.ok(result.queuedId, result.stdout);
  return result.queuedId;
}

test('SIGTERM while idle: exit status 0, process gone, listeners closed, accepted mail delivered', async () => {
  const sluice = await start({ overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  const pid = sluice.child.pid!;
  const id = await inject(sluice, 'idle@shutdown.example');
  await waitFor(() => sink.messages.some((m) => m.text.includes(` id ${id}`)), 15_000, 'delivery');
  await waitFor(() => spoolIds(sluice.dataDir).length === 0, 5_000, 'an empty spool');

  const code = await sluice.stop('SIGTERM');
  assert.equal(code, 0);
  assert.equal(sluice.child.signalCode, null, 'exited by itself, not killed by the signal');
  assert.equal(isRunning(pid), false);
  assert.equal(await refused(sluice.smtpPort), true, 'smtp listener closed');
  assert.equal(await refused(sluice.submissionPort), true, 'submission listener closed');
  assert.match(sluice.output(), /"msg":"stopped"/);
});

test('a message still queued at SIGTERM stays in the spool and is delivered after a restart', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-e2e-restart-'));
  dirs.push(dataDir);
  // First life: the next hop does not answer, and the next attempt is an hour away.
  const nowhere = await freePort();
  const first = await start({
    dataDir,
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${nowhere}`, 'delivery.retry_schedule': '[1h]' },
  });
  const id = await inject(first, 'patient@shutdown.example');
  await waitFor(
    async () => (await searchEvents(dataDir, { messageId: id, type: 'delay' })).length > 0,
    15_000,
    'the first attempt to fail',
  );
  assert.equal(await first.stop('SIGTERM'), 0);
  assert.deepEqual(spoolIds(dataDir), [id], 'the message is still in the spool');

  // Second life, same data dir, a next hop that accepts: the message goes out without new input.
  const second = await start({ dataDir, overrides: { 'delivery.relayhost': `[127.0.0.1]:${sink.port}` } });
  await waitFor(
    () => sink.messages.some((m) => m.text.includes(` id ${id}`)),
    15_000,
    'delivery after restart',
  );
  await waitFor(() => spoolIds(dataDir).length === 0, 5_000, 'the spool emptied');
  const events = await searchEvents(dataDir, { messageId: id });
  assert.deepEqual(events.map((e) => e.type).sort(), ['delay', 'delivery', 'injection']);
  assert.equal(sink.messages.filter((m) => m.text.includes(` id ${id}`)).length, 1, 'delivered once');
  assert.equal(await second.stop('SIGTERM'), 0);
});
