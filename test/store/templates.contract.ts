/**
 * The TemplateStore and RecipientListStore contracts, run against every adapter (embedded and
 * Redis, in content-stores.test.ts): insert refuses a taken id, get/put/delete/list round-trip
 * whole records, touch records a use without rewriting the record; a list's recipients are kept apart from its description, replaced only when
 * given, with every recipient's substitution data and metadata as stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  RecipientListMeta,
  RecipientListStore,
  TemplateRecord,
  TemplateStore,
} from '../../src/store/types.js';

const template = (id: string): TemplateRecord => ({
  id,
  draft: {
    name: `Template ${id}`,
    description: '',
    content: { from: 'a@b.example', subject: 'Hi {{name}}', text: 'x', headers: { 'X-A': '1' } },
    options: { open_tracking: false },
    updated: '2026-01-01T00:00:00.000Z',
  },
  published: null,
  published_version: 0,
  last_update_time: '2026-01-01T00:00:00.000Z',
  last_use: null,
});

export function templateContract(name: string, open: () => Promise<TemplateStore>): void {
  test(`${name}: templates are inserted once, read, replaced, listed by id and deleted`, async () => {
    const store = await open();
    assert.equal(await store.insert(template('b')), true);
    assert.equal(await store.insert(template('a')), true);
    assert.equal(await store.insert(template('a')), false, 'a taken id is refused');
    assert.deepEqual(await store.get('a'), template('a'));
    const published = { ...template('a'), published: template('a').draft, draft: null, published_version: 1 };
    assert.equal(await store.put(published), true);
    assert.deepEqual(await store.get('a'), published);
    assert.equal(await store.put(template('nope')), false, 'put does not create');
    await store.touch('a', '2026-05-01T00:00:00.000Z');
    assert.equal((await store.get('a'))?.last_use, '2026-05-01T00:00:00.000Z');
    assert.equal((await store.get('a'))?.published_version, 1, 'a use keeps the record as edited');
    assert.equal((await store.list()).find((t) => t.id === 'a')?.last_use, '2026-05-01T00:00:00.000Z');
    await store.touch('nope', '2026-05-01T00:00:00.000Z');
    assert.equal(await store.get('nope'), null, 'touching an unknown template creates nothing');
    assert.equal(await store.get('nope'), null);
    assert.deepEqual(
      (await store.list()).map((t) => t.id),
      ['a', 'b'],
    );
    assert.equal(await store.delete('a'), true);
    assert.equal(await store.delete('a'), false);
    assert.equal(await store.get('a'), null);
    assert.deepEqual(
      (await store.list()).map((t) => t.id),
      ['b'],
    );
  });
}

const meta = (id: string, total: number): RecipientListMeta => ({
  id,
  name: id,
  description: 'd',
  attributes: { internal_id: 112 },
  total_accepted_recipients: total,
  created: '2026-01-01T00:00:00.000Z',
  updated: '2026-01-01T00:00:00.000Z',
});

const recipients = [
  {
    address: { email: 'wilma@flintstone.example', name: 'Wilma' },
    tags: ['greeting'],
    metadata: { age: '24', place: 'Bedrock' },
    substitution_data: { favorite_color: 'SparkPost Orange', nested: { a: [1, { b: null }] } },
  },
  { address: 'abc@flintstone.example', return_path: 'bounces@flintstone.example' },
];

export function recipientListContract(name: string, open: () => Promise<RecipientListStore>): void {
  test(`${name}: recipient lists keep description and recipients apart, exactly as given`, async () => {
    const store = await open();
    assert.equal(await store.insert(meta('students', 2), recipients), true);
    assert.equal(await store.insert(meta('students', 0), []), false, 'a taken id is refused');
    assert.equal(await store.insert(meta('alumni', 1), [recipients[1]!]), true);
    assert.deepEqual(await store.get('students'), meta('students', 2));
    assert.deepEqual(await store.recipients('students'), recipients, 'substitution data and metadata kept');
    assert.equal(await store.update({ ...meta('students', 2), name: 'renamed' }, null), true);
    assert.equal((await store.get('students'))?.name, 'renamed');
    assert.deepEqual(await store.recipients('students'), recipients, 'recipients kept when not given');
    assert.equal(await store.update(meta('students', 1), [recipients[1]!]), true);
    assert.deepEqual(await store.recipients('students'), [recipients[1]]);
    assert.equal(await store.update(meta('nope', 0), []), false);
    assert.equal(await store.recipients('nope'), null);
    assert.deepEqual(
      (await store.list()).map((l) => [l.id, l.total_accepted_recipients]),
      [
        ['alumni', 1],
        ['students', 1],
      ],
    );
    assert.equal(await store.delete('students'), true);
    assert.equal(await store.delete('students'), false);
    assert.equal(await store.get('students'), null);
    assert.equal(await store.recipients('students'), null);
  });
}
