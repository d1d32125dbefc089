/**
 * Specifies how `sluice auth` keeps one peer from exhausting it: a connection silent for
 * auth.idle_timeout is closed (shortened here; 1h by default), and past
 * auth.max_connections_per_peer the next connection from that address is closed at once with a
 * log line, while another address (Postfix) still gets in and authenticates. (What a real
 * Postfix does when its idle connection was closed: test/auth/postfix-idle.test.ts.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { AuthClient } from '../harness/auth-client.js';
import { type SluiceAuthProcess, startSluiceAuth } from '../harness/auth-process.js';
import { createKey } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';

let dir: string;
let key: string;
let idle: SluiceAuthProcess;
let capped: SluiceAuthProcess;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-auth-limits-'));
  ({ key } = await createKey(dir, { label: 'limits' }));
  [idle, capped] = await Promise.all([
    startSluiceAuth(dir, { 'auth.idle_timeout': '1s' }),
    startSluiceAuth(dir, { 'auth.max_connections_per_peer': 2, 'auth.max_connections': 10 }),
  ]);
});

after(async () => {
  await Promise.all([idle?.stop(), capped?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a connection silent for idle_timeout is closed, with a log line; the service goes on', async () => {
  const silent = await AuthClient.connect(idle.port);
  await silent.closed;
  await waitFor(() => /"msg":"auth connection idle: closing"/.test(idle.output()), 5_000, 'the log line');
  const next = await AuthClient.connect(idle.port);
  const reply = await next.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password: key });
  assert.equal(reply.verdict, 'OK');
  await next.close();
  assert.equal(idle.child.exitCode, null, 'still running');
});

test('the connection over max_connections_per_peer is closed at once; another peer still gets in', async () => {
  const held = [
    await AuthClient.connect(capped.port, { localAddress: '127.0.0.2' }),
    await AuthClient.connect(capped.port, { localAddress: '127.0.0.2' }),
  ];
  try {
    await assert.rejects(
      AuthClient.connect(capped.port, { localAddress: '127.0.0.2' }),
      /closed/,
      'no handshake for the third connection from 127.0.0.2',
    );
    await waitFor(
      () =>
        /"peer":"127\.0\.0\.2","connections":2,"limit":2,"msg":"too many connections from one peer: refused"/.test(
          capped.output(),
        ),
      5_000,
      'the refusal logged with the limit',
    );
    // Postfix, on another address, is not locked out.
    const postfix = await AuthClient.connect(capped.port, { localAddress: '127.0.0.3' });
    const reply = await postfix.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password: key });
    assert.equal(reply.verdict, 'OK');
    await postfix.close();
    // The peer's own connections keep working, and a freed slot is usable again.
    assert.equal(
      (await held[0]!.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password: key })).verdict,
      'OK',
    );
    await held.pop()!.close();
    const again = await waitFor(
      () => AuthClient.connect(capped.port, { localAddress: '127.0.0.2' }).catch(() => null),
      5_000,
      'a freed slot',
    );
    held.push(again!);
  } finally {
    await Promise.all(held.map((client) => client.close()));
  }
});
