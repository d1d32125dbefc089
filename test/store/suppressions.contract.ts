/**
 * The SuppressionStore contract, written once and run against every adapter (embedded here; the
 * Redis adapter runs the same function): upsert keeps `created`, per-type entries, case-insensitive
 * recipients, delete by type or whole, filters, and stable newest-first paging with a cursor.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SuppressionRecord, SuppressionStore } from '../../src/store/types.js';

const entry = (
  recipient: string,
  type: SuppressionRecord['type'],
  updated: string,
  source = 'Manually Added',
) => ({
  recipient,
  type,
  source,
  description: `${source} for ${recipient}`,
  created: updated,
  updated,
});

export function suppressionContract(name: string, open: () => Promise<SuppressionStore>): void {
  test(`${name}: put, get and upsert keep created and replace the rest`, async () => {
    const store = await open();
    await store.put([entry('A@Example.com', 'transactional', '2026-01-01T00:00:00.000Z')]);
    await store.put([
      { ...entry('a@example.com', 'transactional', '2026-02-01T00:00:00.000Z', 'Bounce Rule') },
      entry('a@example.com', 'non_transactional', '2026-02-01T00:00:00.000Z'),
    ]);
    const got = await store.get('a@EXAMPLE.com');
    assert.deepEqual(
      got.map((r) => [r.recipient, r.type, r.source, r.created, r.updated]),
      [
        [
          'a@example.com',
          'non_transactional',
          'Manually Added',
          '2026-02-01T00:00:00.000Z',
          '2026-02-01T00:00:00.000Z',
        ],
        [
          'a@example.com',
          'transactional',
          'Bounce Rule',
          '2026-01-01T00:00:00.000Z',
          '2026-02-01T00:00:00.000Z',
        ],
      ],
    );
  });

  test(`${name}: delete one type, then the rest`, async () => {
    const store = await open();
    await store.put([
      entry('d@example.com', 'transactional', '2026-01-01T00:00:00.000Z'),
      entry('d@example.com', 'non_transactional', '2026-01-01T00:00:00.000Z'),
    ]);
    assert.equal(await store.delete('D@example.com', 'transactional'), 1);
    assert.deepEqual(
      (await store.get('d@example.com')).map((r) => r.type),
      ['non_transactional'],
    );
    assert.equal(await store.delete('d@example.com'), 1);
    assert.equal(await store.delete('d@example.com'), 0);
    assert.deepEqual(await store.get('d@example.com'), []);
  });

  test(`${name}: list filters and pages newest first without repeats`, async () => {
    const store = await open();
    const all = Array.from({ length: 25 }, (_, i) =>
      entry(
        `p${String(i).padStart(2, '0')}@list.example`,
        i % 2 ? 'transactional' : 'non_transactional',
        `2026-03-01T00:00:${String(i).padStart(2, '0')}.000Z`,
        i % 5 === 0 ? 'Bounce Rule' : 'Manually Added',
      ),
    );
    await store.put(all);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const { records, next } = await store.list({
        search: '@list.example',
        limit: 7,
        ...(cursor && { cursor }),
      });
      seen.push(...records.map((r) => r.recipient));
      if (!next) break;
      cursor = next;
    }
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
    assert.equal(seen[0], 'p24@list.example', 'newest first');
    const bounces = await store.list({ search: '@list.example', sources: ['Bounce Rule'] });
    assert.equal(bounces.records.length, 5);
    const trans = await store.list({ search: '@list.example', types: ['transactional'] });
    assert.ok(trans.records.every((r) => r.type === 'transactional'));
    assert.equal(trans.records.length, 12);
    const window = await store.list({
      search: '@list.example',
      from: '2026-03-01T00:00:10.000Z',
      to: '2026-03-01T00:00:14.000Z',
    });
    assert.equal(window.records.length, 5);
    await assert.rejects(store.list({ cursor: 'not-a-cursor' }), /invalid cursor/);
  });
}
