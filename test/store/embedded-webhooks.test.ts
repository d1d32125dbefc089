/**
 * Specifies what the embedded webhook store adds for processes sharing one data_dir (`sluice
 * serve` beside a standalone `sluice milter`): two connections polling `due` get each
 * batch once, a claimed batch is not offered again while its lease runs, and one whose claimant
 * died (never removed nor rescheduled it) comes back after the lease.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedWebhookStore } from '../../src/store/embedded/webhooks.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-webhook-claims-'));
const dbs: Database.Database[] = [];
after(() => {
  for (const db of dbs) db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function process(leaseMs: number): EmbeddedWebhookStore {
  const db = openDatabase(dir);
  dbs.push(db);
  return new EmbeddedWebhookStore(db, leaseMs);
}

test('two processes on one database claim each due batch once; a dead claimant’s batches return after the lease', async () => {
  const serve = process(1_000);
  const milter = process(1_000);
  await serve.insert({
    id: 'w',
    name: 'w',
    target: 'http://127.0.0.1:9/',
    events: [],
    auth_type: 'none',
    auth_credentials: null,
    secret: 'x',
    active: true,
    created: '',
    updated: '',
  });
  for (let i = 0; i < 40; i++)
    await milter.enqueue({
      id: `b${i}`,
      webhook_id: 'w',
      payload: `[${i}]`,
      created: 0,
      due: i,
      attempts: 0,
    });
  const now = 10_000;
  const [a, b] = await Promise.all([serve.due(now, 25), milter.due(now, 25)]);
  const ids = [...a, ...b].map((x) => x.id);
  assert.equal(ids.length, 40);
  assert.equal(new Set(ids).size, 40, 'no batch handed to both');
  assert.deepEqual(
    a.slice(0, 2).map((x) => x.due),
    [0, 1],
    'returned with their own due times',
  );
  // serve finishes its share; milter "dies" holding its batches.
  for (const x of a) await serve.remove(x.id);
  assert.deepEqual(await serve.due(now + 999, 100), [], 'still leased');
  const back = await serve.due(now + 1_000, 100);
  assert.deepEqual(back.map((x) => x.id).sort(), b.map((x) => x.id).sort());
  assert.equal(back[0]?.payload, b.find((x) => x.id === back[0]?.id)?.payload);
});
