/**
 * Specifies the embedded event store's retention: prune() deletes exactly the events older than
 * the cut-off, across more rows than one delete batch, and leaves newer ones searchable; and the
 * JSON-lines log follows logrotate — the real `logrotate` run on contrib/logrotate/sluice renames
 * events.jsonl away, and the next append a second later lands in a fresh events.jsonl while
 * nothing is lost from the rotated file.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { deliveryEvent, type MessageFacts } from '../../src/core/events.js';
import { EVENTS_LOG } from '../../src/store/embedded/events.js';
import { scratchEventStore } from '../harness/scratch-events.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');

const scratch = scratchEventStore('sluice-events-');

const facts = (id: string): MessageFacts => ({
  message_id: id,
  transmission_id: id,
  msg_from: 'a@example.com',
  friendly_from: 'a@example.com',
  subject: 's',
  msg_size: 1,
  injection_time: new Date(0).toISOString(),
  recv_method: 'esmtp',
  api_key_id: null,
  client_ip: '127.0.0.1',
  msys: {},
});

test('prune deletes what is older than the cut-off, in batches, and nothing newer', async () => {
  const old = new Date('2026-01-01T00:00:00Z');
  const recent = new Date('2026-06-01T00:00:00Z');
  scratch.db.transaction(() => {
    for (let i = 0; i < 12_000; i++)
      scratch.store.append(deliveryEvent(facts(`old${i}`), 'x@example.net', { num_retries: 0 }, old));
    for (let i = 0; i < 10; i++)
      scratch.store.append(deliveryEvent(facts(`new${i}`), 'x@example.net', { num_retries: 0 }, recent));
  })();
  assert.equal(await scratch.store.prune('2026-03-01T00:00:00.000Z'), 12_000);
  const left = await scratch.store.search({ limit: 100_000 });
  assert.equal(left.length, 10);
  assert.ok(left.every((event) => String(event.message_id).startsWith('new')));
  assert.equal(await scratch.store.prune('2026-03-01T00:00:00.000Z'), 0);
});

test('events.jsonl is reopened after logrotate renames it', async () => {
  const log = path.join(scratch.dir, EVENTS_LOG);
  scratch.store.append(
    deliveryEvent(facts('before-rotate'), 'x@example.net', { num_retries: 0 }, new Date()),
  );
  const user = os.userInfo().username;
  const group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
  const config = fs
    .readFileSync(path.join(repoRoot, 'contrib/logrotate/sluice'), 'utf8')
    .replace('/var/lib/sluice/events.jsonl', log)
    .replace('create 0640 sluice sluice', `create 0640 ${user} ${group}`);
  fs.writeFileSync(path.join(scratch.dir, 'logrotate.conf'), config);
  execFileSync('logrotate', [
    '-f',
    '-s',
    path.join(scratch.dir, 'logrotate.state'),
    path.join(scratch.dir, 'logrotate.conf'),
  ]);
  const rotated = fs.readFileSync(`${log}.1`, 'utf8');
  assert.match(rotated, /before-rotate/);
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  scratch.store.append(deliveryEvent(facts('after-rotate'), 'x@example.net', { num_retries: 0 }, new Date()));
  const fresh = fs.readFileSync(log, 'utf8');
  assert.match(fresh, /after-rotate/);
  assert.doesNotMatch(fresh, /before-rotate/);
  assert.doesNotMatch(fs.readFileSync(`${log}.1`, 'utf8'), /after-rotate/);
});

test('appendMany records every event, in order, in the database and as one line each in events.jsonl', async () => {
  const before = fs
    .readFileSync(path.join(scratch.dir, EVENTS_LOG), 'utf8')
    .split('\n')
    .filter(Boolean).length;
  const events = Array.from({ length: 50 }, (_, i) =>
    deliveryEvent(facts('many'), `r${i}@example.net`, { num_retries: 0 }, new Date('2026-07-01T00:00:00Z')),
  );
  scratch.store.appendMany(events);
  const found = await scratch.store.search({ messageId: 'many', limit: 100 });
  assert.deepEqual(
    found.map((event) => event.rcpt_to).reverse(),
    events.map((event) => event.rcpt_to),
  );
  const lines = fs.readFileSync(path.join(scratch.dir, EVENTS_LOG), 'utf8').split('\n').filter(Boolean);
  assert.equal(lines.length, before + 50);
  assert.deepEqual(
    lines.slice(-50).map((line) => (JSON.parse(line) as { rcpt_to: string }).rcpt_to),
    events.map((event) => event.rcpt_to),
  );
});
