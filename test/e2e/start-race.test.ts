/**
 * Specifies that any number of Sluice processes may start together on a fresh data_dir, as systemd
 * starts `sluice auth`, `sluice policy` and `sluice milter` at boot: the schema is created once and
 * every process comes up (none dies with "table api_keys already exists" or "database is locked").
 * A `sluice keys create` started in the same instant works too, and its key is in the store the
 * services then use. Many rounds, each on a new data_dir, because a race shows only sometimes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { sluiceCli } from '../harness/clients.js';
import { startSluiceService } from '../harness/service-process.js';

const ROUNDS = 20;
/** Four processes starting at once on a shared, busy machine can take long to listen: not a failure. */
const READY_MS = 120_000;

for (let round = 1; round <= ROUNDS; round++) {
  test(`round ${round}/${ROUNDS}: auth, policy, milter and keys create started together on a fresh data_dir all come up`, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-start-race-'));
    const dataDir = path.join(dir, 'data'); // not there yet: any process may be the one creating it
    const created = sluiceCli(
      ['keys', 'create', '-o', `data_dir=${dataDir}`, '--json', '--label', 'race', '--grant', 'smtp/inject'],
      READY_MS,
    );
    const started = await Promise.allSettled(
      (['auth', 'policy', 'milter'] as const).map((name) =>
        startSluiceService(name, { dataDir, readyTimeoutMs: READY_MS }),
      ),
    );
    const services = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      const failed = started.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : []));
      assert.deepEqual(failed, [], 'every service came up');
      const key = await created;
      assert.equal(key.code, 0, `keys create failed: ${key.stderr}`);
      const listed = await sluiceCli(['keys', 'list', '-o', `data_dir=${dataDir}`, '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.ok(listed.stdout.includes((JSON.parse(key.stdout) as { id: string }).id), 'the key is stored');
      for (const service of services) assert.equal(service.child.exitCode, null, 'still running');
    } finally {
      await created.catch(() => {});
      await Promise.all(services.map((service) => service.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
