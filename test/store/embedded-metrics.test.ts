/**
 * The MetricsStore contract on the embedded store, through both paths that write events there:
 * EmbeddedEventStore on the main thread and ThreadedEventStore's writer thread. Plus what only
 * SQLite shows: prune() deletes rows past their retention, and metrics.rollups: false keeps none.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { C } from '../../src/core/metrics/definitions.js';
import { addCount, emptyBatch } from '../../src/core/metrics/rollup.js';
import { ThreadedEventStore } from '../../src/store/embedded/threaded-events.js';
import { openEmbeddedStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';
import { metricsContract } from './metrics.contract.js';

const opened: Array<{ dir: string; stores: Stores; threads: ThreadedEventStore[] }> = [];
after(async () => {
  for (const { dir, stores, threads } of opened) {
    for (const t of threads) await t.close();
    await stores.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function scratch(metrics?: { rollups: boolean }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-metrics-'));
  const config = metrics
    ? {
        data_dir: dir,
        metrics: {
          rollups: metrics.rollups,
          retention: 180 * 86_400_000,
          minute_retention: 7 * 86_400_000,
          watched_domains: [],
        },
      }
    : { data_dir: dir };
  const stores = openEmbeddedStores(config);
  const entry = { dir, stores, threads: [] as ThreadedEventStore[] };
  opened.push(entry);
  return entry;
}

metricsContract('embedded', async () => {
  const { stores } = scratch();
  return { events: stores.events, metrics: stores.metrics, settle: async () => {} };
});

metricsContract('embedded writer thread', async () => {
  const entry = scratch();
  const threaded = new ThreadedEventStore(entry.dir, entry.stores.events, (error) => {
    throw error;
  });
  entry.threads.push(threaded);
  await threaded.ready();
  return { events: threaded, metrics: entry.stores.metrics, settle: () => threaded.settled() };
});

test('embedded: prune deletes minute rows past the minute retention and the rest past the retention', async () => {
  const { stores } = scratch();
  const now = Date.now();
  const minute = Math.floor(now / 60_000) - 60;
  const batch = emptyBatch();
  addCount(batch, minute, 'x.example\x1fc\x1fs.example\x1f\x1f0\x1fdefault', C.delivered, 3);
  batch.dims.set('x.example\x1fc\x1fs.example\x1f\x1f0\x1fdefault', minute);
  await stores.metrics.apply(batch);
  const span = (res: 'minute' | 'hour' | 'day', size: number) => ({
    res,
    from: minute - (minute % size),
    to: minute - (minute % size) + size,
  });
  const read = async () =>
    Promise.all(
      [span('minute', 1), span('hour', 60), span('day', 1440)].map(
        async (s) => (await stores.metrics.sum([s], null, 'none')).get('')?.[C.delivered] ?? 0,
      ),
    );
  assert.deepEqual(await read(), [3, 3, 3]);
  // Eight days on, the minute row is past the default 7 days; hour and day rows stay.
  assert.ok((await stores.metrics.prune(now + 8 * 86_400_000)) >= 2);
  assert.deepEqual(await read(), [0, 3, 3]);
  await stores.metrics.prune(now + 200 * 86_400_000);
  assert.deepEqual(await read(), [0, 0, 0]);
  assert.deepEqual(await stores.metrics.dimensions(), []);
});

test('embedded: metrics.rollups false stores events and no rollups', async () => {
  const { stores } = scratch({ rollups: false });
  const minute = Math.floor(Date.now() / 60_000);
  stores.events.append({
    type: 'injection',
    event_id: 'off-1',
    timestamp: new Date(minute * 60_000).toISOString(),
    message_id: 'off',
    rcpt_to: 'x@off.example',
  });
  assert.equal((await stores.events.search({ messageId: 'off' })).length, 1);
  assert.equal(
    (await stores.metrics.sum([{ res: 'minute', from: minute, to: minute + 1 }], null, 'none')).size,
    0,
  );
  assert.deepEqual(await stores.metrics.dimensions(), []);
});
