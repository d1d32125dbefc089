/**
 * The TransmissionStore contract, run against every adapter (embedded and Redis, in
 * content-stores.test.ts): a transmission waiting for generation keeps its request and is claimed
 * once its start time came, then again only after its lease ran out (its node died); progress
 * extends the lease; finishing drops the request; only a submitted transmission can be canceled
 * (a claimed one refuses, naming its state); scheduled ones are listed newest first and filtered;
 * in-use checks see only submitted and Generating ones; prune forgets finished ones.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TransmissionRecord, TransmissionStore } from '../../src/store/types.js';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

export const transmission = (id: string, over: Partial<TransmissionRecord> = {}): TransmissionRecord => ({
  id,
  state: 'submitted',
  name: '',
  description: '',
  campaign_id: 'fall',
  template_id: 'inline',
  use_draft_template: false,
  recipient_list_id: null,
  start_time: iso(T0 + 60_000),
  created: iso(T0),
  num_rcpts: 2,
  num_generated: 0,
  num_failed_gen: 0,
  progress: 0,
  generation_start_time: null,
  generation_end_time: null,
  metadata: { a: [] },
  substitution_data: {},
  options: { open_tracking: true },
  ...over,
});

export function transmissionContract(name: string, open: () => Promise<TransmissionStore>): void {
  test(`${name}: due transmissions are claimed once per lease, resumed after it, finished`, async () => {
    const store = await open();
    await store.insert(transmission('1'), '{"body":1}');
    await store.insert(
      transmission('2', { start_time: iso(T0 + 120_000), template_id: 'fall_deals' }),
      '{"body":2}',
    );
    await store.insert(transmission('3', { state: 'Success', start_time: null }), null);
    assert.deepEqual(await store.claimDue(T0, T0 + 10_000, 10), [], 'nothing is due before its start time');
    const first = await store.claimDue(T0 + 60_000, T0 + 70_000, 10);
    assert.deepEqual(
      first.map((t) => [t.id, t.state]),
      [['1', 'Generating']],
    );
    assert.equal(Array.isArray(first[0]?.metadata.a), true, 'records round-trip as JSON');
    assert.equal(await store.request('1'), '{"body":1}');
    assert.deepEqual(await store.claimDue(T0 + 65_000, T0 + 75_000, 10), [], 'leased: not handed out again');
    await store.update('1', { progress: 1, num_generated: 1 }, T0 + 90_000);
    assert.deepEqual(
      (await store.claimDue(T0 + 80_000, T0 + 95_000, 10)).map((t) => t.id),
      [],
      'progress extended the lease',
    );
    const resumed = await store.claimDue(T0 + 125_000, T0 + 135_000, 10);
    assert.deepEqual(
      resumed.map((t) => [t.id, t.progress]).sort(),
      [
        ['1', 1],
        ['2', 0],
      ],
      'a lease that ran out (the node died) is taken over, with its progress',
    );
    await store.update(
      '1',
      { state: 'Success', num_generated: 2, progress: 2, generation_end_time: iso(T0 + 126_000) },
      null,
    );
    const done = await store.get('1');
    assert.equal(done?.state, 'Success');
    assert.equal(done?.num_generated, 2);
    assert.equal(await store.request('1'), null, 'the request goes once generated');
    assert.deepEqual(await store.claimDue(T0 + 999_000, T0 + 999_999, 10).then((l) => l.map((t) => t.id)), [
      '2',
    ]);
    assert.equal(await store.get('nope'), null);
  });

  test(`${name}: only a submitted transmission is canceled; by campaign too`, async () => {
    const store = await open();
    await store.insert(transmission('10'), '{}');
    await store.insert(transmission('11', { campaign_id: 'winter' }), '{}');
    await store.insert(transmission('12'), '{}');
    await store.insert(transmission('13', { state: 'Success', start_time: null }), null);
    assert.deepEqual(await store.cancel('10'), { ok: true });
    assert.equal((await store.get('10'))?.state, 'Canceled');
    assert.equal(await store.request('10'), null);
    assert.deepEqual(await store.cancel('10'), { ok: false, state: 'Canceled' });
    assert.deepEqual(await store.cancel('13'), { ok: false, state: 'Success' });
    assert.deepEqual(await store.cancel('99'), { ok: false, state: null });
    await store.claimDue(T0 + 60_000, T0 + 200_000, 1);
    const claimed = (await store.get('11'))?.state === 'Generating' ? '11' : '12';
    assert.deepEqual(await store.cancel(claimed), { ok: false, state: 'Generating' });
    assert.deepEqual(await store.submittedInCampaign('fall'), claimed === '12' ? [] : ['12']);
    assert.deepEqual(
      (await store.claimDue(T0 + 100_000, T0 + 110_000, 10)).map((t) => t.id).sort(),
      [claimed === '12' ? '11' : '12'].sort(),
      'a canceled transmission is never claimed',
    );
  });

  test(`${name}: scheduled transmissions are listed newest first and filtered; in-use; prune`, async () => {
    const store = await open();
    await store.insert(
      transmission('20', { created: iso(T0 + 1), template_id: 'a', recipient_list_id: 'l1' }),
      '{}',
    );
    await store.insert(transmission('21', { created: iso(T0 + 2), campaign_id: 'x' }), '{}');
    await store.insert(
      transmission('22', { created: iso(T0 + 3), start_time: null, state: 'Success' }),
      null,
    );
    await store.insert(
      transmission('23', {
        created: iso(T0 + 4),
        state: 'Success',
        template_id: 'b',
        recipient_list_id: 'l2',
      }),
      null,
    );
    assert.deepEqual(
      (await store.listScheduled({})).map((t) => t.id),
      ['23', '21', '20'],
      'transmissions sent at once are not listed',
    );
    assert.deepEqual(
      (await store.listScheduled({ campaign_id: 'fall' })).map((t) => t.id),
      ['23', '20'],
    );
    assert.deepEqual(
      (await store.listScheduled({ template_id: 'a', campaign_id: 'fall' })).map((t) => t.id),
      ['20'],
    );
    assert.deepEqual(
      (await store.pending()).map((t) => t.id),
      ['20', '21'],
      'what is still to generate',
    );
    assert.equal(await store.inUse({ template_id: 'a' }), true);
    assert.equal(
      await store.inUse({ template_id: 'b' }),
      false,
      'finished transmissions do not hold templates',
    );
    assert.equal(await store.inUse({ recipient_list_id: 'l1' }), true);
    assert.equal(await store.inUse({ recipient_list_id: 'l2' }), false);
    // Adapters whose records expire by themselves (Redis) count only what prune removed itself.
    assert.ok((await store.prune(iso(T0 + 5))) >= 1, 'the finished scheduled transmission goes');
    assert.equal(await store.get('23'), null);
    assert.notEqual(await store.get('20'), null, 'a transmission still to generate is never pruned');
    assert.deepEqual(
      (await store.listScheduled({})).map((t) => t.id),
      ['21', '20'],
    );
  });
}
