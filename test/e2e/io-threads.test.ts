/**
 * Specifies the size of `sluice serve`'s I/O threadpool, which runs every spool fsync: 16 threads
 * unless UV_THREADPOOL_SIZE says otherwise. With Node's default of 4, twenty sessions waiting on
 * fsyncs queue behind four threads. The size must be set before the threadpool's first use, which
 * an ES module entry is too late for (see bin/sluice.js), so this counts the threads of the real
 * process in /proc (Linux).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { startSluice } from '../harness/sluice-process.js';

async function threadsOf(env: NodeJS.ProcessEnv): Promise<number> {
  const sluice = await startSluice({ env });
  try {
    return readdirSync(`/proc/${sluice.child.pid}/task`).length;
  } finally {
    await sluice.stop();
  }
}

test('sluice serve runs 16 I/O threads by default, and as many as UV_THREADPOOL_SIZE when it is set', async () => {
  const byDefault = await threadsOf({ UV_THREADPOOL_SIZE: undefined });
  const four = await threadsOf({ UV_THREADPOOL_SIZE: '4' });
  assert.equal(byDefault - four, 16 - 4, `threads: ${byDefault} by default, ${four} with 4`);
});
