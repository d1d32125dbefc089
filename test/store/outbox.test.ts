/**
 * Specifies the disk outbox behind the Redis event store: events are on disk when append returns;
 * while `send` fails they wait there and are retried without being asked; each chunk is sent with
 * a stable segment id (the receiver's dedup key); and segments of a process that is gone are
 * adopted and sent by the next one, while those of a live process are left alone.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { SluiceEvent } from '../../src/core/events.js';
import { EventOutbox } from '../../src/store/redis/outbox.js';
import { waitFor } from '../harness/net.js';

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-outbox-'));
  dirs.push(dir);
  return dir;
}

const ev = (n: number): SluiceEvent => ({
  type: 'open',
  event_id: String(n),
  timestamp: new Date().toISOString(),
});

test('events wait on disk while sending fails, and go out by themselves once it works', async () => {
  const dir = scratch();
  let up = false;
  const received: string[] = [];
  const states: boolean[] = [];
  const outbox = new EventOutbox(
    dir,
    async (_segment, _chunk, events) => {
      if (!up) throw new Error('redis down');
      received.push(...events.map((e) => e.event_id));
    },
    { retryMs: 50, onState: (ok) => states.push(ok) },
  );
  for (let i = 0; i < 5; i++) outbox.append(ev(i));
  const onDisk = fs
    .readdirSync(dir)
    .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
    .join('');
  assert.equal(onDisk.trim().split('\n').length, 5, 'on disk when append returns');
  await assert.rejects(outbox.flush(), /redis down/);
  for (let i = 5; i < 8; i++) outbox.append(ev(i));
  up = true;
  await waitFor(() => received.length === 8, 5_000, 'the retried flush');
  assert.deepEqual(received, ['0', '1', '2', '3', '4', '5', '6', '7']);
  assert.deepEqual(states, [false, true], 'told once per change of state');
  await waitFor(() => outbox.backlog() === 0, 5_000, 'an empty backlog');
  assert.deepEqual(fs.readdirSync(dir), [], 'sent segments are deleted');
  await outbox.close();
});

test('segments of a dead process are adopted (same dedup id); a live one keeps its own', async () => {
  const dir = scratch();
  // A process that is certainly gone: it ran and exited.
  const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
  fs.writeFileSync(path.join(dir, `seg-aaa-${dead}-000000000.jsonl`), `${JSON.stringify(ev(1))}\n{"torn`);
  // The parent of this test process is alive: its segment is not ours to send.
  fs.writeFileSync(path.join(dir, `seg-aaa-${process.ppid}-000000000.jsonl`), `${JSON.stringify(ev(2))}\n`);
  const sent: Array<[string, number, string[]]> = [];
  const outbox = new EventOutbox(dir, async (segment, chunk, events) => {
    sent.push([segment, chunk, events.map((e) => e.event_id)]);
  });
  await outbox.flush();
  assert.deepEqual(sent, [[`seg-aaa-${dead}-000000000`, 0, ['1']]], 'the torn line is skipped');
  assert.deepEqual(fs.readdirSync(dir), [`seg-aaa-${process.ppid}-000000000.jsonl`]);
  await outbox.close();
});
