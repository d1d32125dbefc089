/**
 * Specifies the `sluice auth` process on a real socket: the handshake and AUTH over TCP, many
 * requests in flight on one connection (a slowed failure does not hold up a success), a PLAIN
 * authzid other than the user refused (core's rule, as at the SMTP door), connections
 * closed on an oversized line or binary garbage while the server keeps serving others, and a clean
 * exit (status 0) on SIGTERM with a client still connected.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AuthClient } from '../harness/auth-client.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { sluiceCli } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';

let dir: string;
let auth: SluiceAuthProcess;
let key: string;
let keyId: string;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-auth-server-'));
  const created = await sluiceCli([
    'keys',
    'create',
    '--label',
    'a',
    '--grant',
    'smtp/inject',
    '--json',
    '-o',
    `data_dir=${dir}`,
  ]);
  assert.equal(created.code, 0, created.stderr);
  ({ key, id: keyId } = JSON.parse(created.stdout) as { key: string; id: string });
  auth = await startSluiceAuth(dir, { 'auth.max_line_length': 2048 });
});

after(async () => {
  await auth?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('sluice auth over TCP', () => {
  test('handshake, then PLAIN and LOGIN requests in flight together on one connection', async () => {
    const client = await AuthClient.connect(auth.port);
    try {
      assert.deepEqual(
        client.handshake.map((l) => l[0]),
        ['VERSION', 'MECH', 'MECH', 'SPID', 'CUID', 'COOKIE', 'DONE'],
      );
      const good = { user: 'SMTP_Injection', password: key };
      const replies = await Promise.all([
        client.auth({ mechanism: 'PLAIN', ...good, password: 'f'.repeat(40), rip: '198.51.100.9' }),
        client.auth({ mechanism: 'PLAIN', ...good }),
        client.auth({ mechanism: 'LOGIN', ...good }),
        client.auth({ mechanism: 'PLAIN', ...good, initialResponse: false }),
      ]);
      assert.deepEqual(
        replies.map((r) => [r.verdict, r.params['user'] ?? r.params['reason']]),
        [
          ['FAIL', 'Authentication failed'],
          ['OK', keyId],
          ['OK', keyId],
          ['OK', keyId],
        ],
      );
      assert.deepEqual(replies[2]?.challenges, ['Username:', 'Password:']);
    } finally {
      await client.close();
    }
  });

  test('PLAIN with an authzid other than the user fails; the user itself as authzid is fine', async () => {
    const client = await AuthClient.connect(auth.port);
    try {
      const good = { mechanism: 'PLAIN' as const, user: 'SMTP_Injection', password: key };
      const [other, same] = await Promise.all([
        client.auth({ ...good, authzid: 'postmaster' }),
        client.auth({ ...good, authzid: 'SMTP_Injection' }),
      ]);
      assert.deepEqual([other.verdict, other.params['reason']], ['FAIL', 'Authentication failed']);
      assert.equal(other.params['user'], undefined);
      assert.deepEqual([same.verdict, same.params['user']], ['OK', keyId]);
      await waitFor(() => /"reason":"authzid"/.test(auth.output()), 5_000, 'the reason in the log');
    } finally {
      await client.close();
    }
  });

  test('a failure with an existing key logs its id and why; an unknown key logs no id', async () => {
    const created = await sluiceCli([
      'keys',
      'create',
      '--label',
      'api only',
      '--grant',
      'transmissions/modify',
      '--json',
      '-o',
      `data_dir=${dir}`,
    ]);
    assert.equal(created.code, 0, created.stderr);
    const apiOnly = JSON.parse(created.stdout) as { key: string; id: string };
    const client = await AuthClient.connect(auth.port);
    try {
      const lacking = await client.auth({
        mechanism: 'PLAIN',
        user: 'SMTP_Injection',
        password: apiOnly.key,
      });
      const unknown = await client.auth({
        mechanism: 'PLAIN',
        user: 'SMTP_Injection',
        password: 'e'.repeat(40),
      });
      assert.deepEqual(
        [lacking, unknown].map((r) => [r.verdict, r.params['reason']]),
        [
          ['FAIL', 'Authentication failed'],
          ['FAIL', 'Authentication failed'],
        ],
        'Postfix learns nothing more',
      );
    } finally {
      await client.close();
    }
    const failures = auth
      .output()
      .split('\n')
      .filter((line) => line.includes('"auth failed"'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const withKey = failures.find((f) => f.key === apiOnly.id);
    assert.ok(withKey, auth.output());
    assert.equal(withKey.reason, 'grant');
    assert.ok(failures.some((f) => f.reason === 'unknown' && f.key === undefined));
    assert.ok(!auth.output().includes(apiOnly.key), 'never the secret');
  });

  test('an oversized line or binary garbage closes that connection only', async () => {
    const bystander = await AuthClient.connect(auth.port);
    for (const abuse of [Buffer.alloc(4096, 0x41), Buffer.from([0xff, 0xfe, 0x00, 0x0a])]) {
      const client = await AuthClient.connect(auth.port);
      client.write(abuse);
      await client.closed;
    }
    const reply = await bystander.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password: key });
    assert.equal(reply.verdict, 'OK');
    await bystander.close();
    // The closing line is written as the connection closes; the log may lag the client by a moment.
    await waitFor(
      () => /line longer than 2048 bytes/.test(auth.output()),
      10_000,
      'the oversized line logged',
    );
    await waitFor(() => /not valid UTF-8|NUL byte/.test(auth.output()), 10_000, 'the binary input logged');
  });

  test('a client with another major version is disconnected', async () => {
    const client = await AuthClient.connect(auth.port, { version: '2\t0' });
    await client.closed;
  });

  test('SIGTERM with a client connected: exits 0, and no key is in the log', async () => {
    const client = await AuthClient.connect(auth.port);
    assert.equal(await auth.stop(), 0);
    await client.closed;
    assert.ok(!auth.output().includes(key));
  });
});
