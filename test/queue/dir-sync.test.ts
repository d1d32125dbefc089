/**
 * Specifies DirSync, the group commit for spool directory fsyncs: many concurrent sync() calls
 * share few real fsyncs, every call resolves, and no call is answered by a sync that started
 * before it was made (that sync might not cover the caller's new directory entry). The real
 * directory fsync is observed by wrapping the instance's syncOnce, which still performs it.
 * A directory that cannot be synced rejects the callers that waited for that sync.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DirSync } from '../../src/queue/dir-sync.js';

interface Span {
  start: number;
  end: number;
}

/** Wraps the private syncOnce to record when each real sync starts and ends on a logical clock. */
function instrument(dirSync: DirSync) {
  let clock = 0;
  const syncs: Span[] = [];
  const target = dirSync as unknown as { syncOnce: () => Promise<void> };
  const real = target.syncOnce.bind(dirSync);
  target.syncOnce = async () => {
    const span: Span = { start: ++clock, end: Number.POSITIVE_INFINITY };
    syncs.push(span);
    try {
      // Let other callers pile up while this sync is "on the disk".
      await new Promise((resolve) => setImmediate(resolve));
      await real();
    } finally {
      span.end = ++clock;
    }
  };
  /** Calls sync() and records the call and resolution times. */
  const call = async (): Promise<Span> => {
    const start = ++clock;
    await dirSync.sync();
    return { start, end: ++clock };
  };
  return { syncs, call };
}

/** Asserts that some real sync started after the call and finished before the call resolved. */
function coveredByLaterSync(call: Span, syncs: Span[]): void {
  assert.ok(
    syncs.some((s) => s.start > call.start && s.end < call.end),
    `call at ${call.start}..${call.end} was not covered by a sync started after it: ${JSON.stringify(syncs)}`,
  );
}

describe('DirSync', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-dirsync-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a lone sync() resolves after one real directory fsync', async () => {
    const dirSync = new DirSync(dir);
    const { syncs, call } = instrument(dirSync);
    coveredByLaterSync(await call(), syncs);
    assert.equal(syncs.length, 1);
  });

  test('50 concurrent calls all resolve, sharing two syncs: the one running and one after it', async () => {
    const dirSync = new DirSync(dir);
    const { syncs, call } = instrument(dirSync);
    const calls = await Promise.all(Array.from({ length: 50 }, () => call()));
    assert.equal(calls.length, 50);
    assert.equal(syncs.length, 2, 'the first call starts a sync; the 49 that came during it share the next');
    for (const c of calls) coveredByLaterSync(c, syncs);
  });

  test('calls made while the second sync runs wait for a third one, never for the second', async () => {
    const dirSync = new DirSync(dir);
    const { syncs, call } = instrument(dirSync);
    const first = call();
    const secondWave: Array<Promise<Span>> = [call(), call()];
    // Once the second sync has started, make more calls: they must not be answered by it.
    const thirdWave = (async () => {
      while (syncs.length < 2) await new Promise((resolve) => setImmediate(resolve));
      return await Promise.all([call(), call(), call()]);
    })();
    const all = [await first, ...(await Promise.all(secondWave)), ...(await thirdWave)];
    assert.equal(syncs.length, 3);
    for (const c of all) coveredByLaterSync(c, syncs);
  });

  test('sequential calls each get their own sync', async () => {
    const dirSync = new DirSync(dir);
    const { syncs, call } = instrument(dirSync);
    for (let i = 0; i < 3; i++) coveredByLaterSync(await call(), syncs);
    assert.equal(syncs.length, 3);
  });

  test('a directory that cannot be opened rejects, and later calls try again', async () => {
    const missing = path.join(dir, 'does-not-exist');
    const dirSync = new DirSync(missing);
    const results = await Promise.allSettled([dirSync.sync(), dirSync.sync(), dirSync.sync()]);
    assert.ok(results.every((r) => r.status === 'rejected'));
    fs.mkdirSync(missing);
    await dirSync.sync(); // the failure is not remembered
    assert.ok(fs.existsSync(missing));
  });
});
