/**
 * Specifies the modes of what Sluice creates in data_dir outside systemd, with the common umask
 * 022: data_dir and every directory in it 0700, every file 0600 (sluice.db and its -wal and -shm,
 * events.jsonl, the TLS pair, the tracking keys, spooled messages), the admin socket 0600. The
 * database holds webhook secrets and key hashes, events name every recipient: nobody else on the
 * machine may read them. `sluice serve`, `sluice milter` and the CLI each create some of it.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createKey, pythonSmtp } from '../harness/clients.js';
import { freePort, waitFor } from '../harness/net.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

let scratch: string;
let dataDir: string;
let previousUmask: number;
let sluice: SluiceProcess | null = null;
let milter: SluiceService | null = null;

before(() => {
  // Children inherit it: what a `sluice serve` started from a login shell gets.
  previousUmask = process.umask(0o022);
  scratch = mkdtempSync(path.join(tmpdir(), 'sluice-perm-'));
  dataDir = path.join(scratch, 'data');
});

after(async () => {
  await sluice?.stop();
  await milter?.stop();
  process.umask(previousUmask);
  rmSync(scratch, { recursive: true, force: true });
});

/** Every path under dir (dir included), with its type and permission bits. */
function walk(dir: string): Array<{ file: string; kind: 'dir' | 'file' | 'socket' | 'other'; mode: number }> {
  const stat = lstatSync(dir);
  const entry = { file: dir, mode: stat.mode & 0o777 };
  if (!stat.isDirectory())
    return [{ ...entry, kind: stat.isFile() ? 'file' : stat.isSocket() ? 'socket' : 'other' }];
  return [{ ...entry, kind: 'dir' }, ...readdirSync(dir).flatMap((name) => walk(path.join(dir, name)))];
}

test('with umask 022, everything Sluice creates under data_dir is 0700 (directories) or 0600', async () => {
  // The CLI first: it is what creates data_dir on a new install (`sluice keys create`).
  const key = await createKey(dataDir, { grants: ['smtp/inject'] });
  // Delivery goes nowhere (a closed port): the message stays in the spool, to be looked at.
  sluice = await startSluice({
    dataDir,
    overrides: { 'delivery.relayhost': `[127.0.0.1]:${await freePort()}`, 'delivery.tls': 'none' },
  });
  milter = await startSluiceService('milter', { dataDir });
  const steps = await pythonSmtp({
    port: sluice.submissionPort,
    starttls: true,
    login: { user: 'SMTP_Injection', password: key.key },
    from: 'app@example.com',
    to: ['someone@example.net'],
    data: Buffer.from('Subject: private\r\n\r\nHello\r\n'),
  });
  assert.equal(steps.at(-1)?.code, 250, JSON.stringify(steps));
  await waitFor(() => sluice!.output().includes('"msg":"accepted"'), 30_000, 'the message accepted');

  const found = walk(dataDir);
  const names = found.map((f) => path.relative(dataDir, f.file));
  for (const expected of [
    'sluice.db',
    'sluice.db-wal',
    'sluice.db-shm',
    'events.jsonl',
    path.join('tls', 'key.pem'),
    path.join('tls', 'cert.pem'),
    path.join('tracking', 'keys.json'),
  ])
    assert.ok(names.includes(expected), `${expected} exists (found: ${names.join(', ')})`);
  assert.ok(
    found.some((f) => f.kind === 'file' && f.file.includes(`${path.sep}spool${path.sep}queue${path.sep}`)),
    'a spooled message exists',
  );
  assert.ok(
    found.some((f) => f.kind === 'socket'),
    'the admin socket exists',
  );
  // The pickup directory and its socket are the one door meant for other local users (sluice
  // sendmail): write-only for them (0733 plus the sticky bit, lstat's 0o777 mask leaves it out),
  // the socket open to all; nothing in it is secret, and data_dir 0700 still keeps them out
  // unless the operator opens it (or puts pickup.dir outside, as the systemd unit does).
  const pickup = path.join(dataDir, 'pickup');
  const expectedMode = (f: { file: string; kind: string }) =>
    f.file === pickup
      ? 0o733
      : f.file === path.join(pickup, 'pickup.sock')
        ? 0o666
        : f.kind === 'dir'
          ? 0o700
          : 0o600;
  const wrong = found
    .filter((f) => f.mode !== expectedMode(f))
    .map((f) => `${path.relative(scratch, f.file)} ${f.kind} 0${f.mode.toString(8)}`);
  assert.deepEqual(wrong, [], 'directories 0700, files and sockets 0600');
});
