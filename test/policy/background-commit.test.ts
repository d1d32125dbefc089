/**
 * Specifies PolicyService's background commit (what `sluice policy` uses): END-OF-MESSAGE answers
 * at once and the commit follows, yet a limit stays exact (the message is held from RCPT until the
 * commit turns the hold into usage); a commit the store refuses is reported with its transaction,
 * the message stays held (counted) rather than vanishing, and settle() waits for every commit.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Limits } from '../../src/core/limits.js';
import { type PolicyQuery, PolicyService } from '../../src/core/policy.js';
import { EmbeddedCounterStore } from '../../src/store/embedded/counters.js';
import type { CounterHold, CounterStore } from '../../src/store/types.js';

const rules = {
  key: [{ windowMs: 3_600_000, messages: 2, recipients: null }],
  sender_domain: [],
  client_address: [],
};
const key = { id: 'k1', grants: ['smtp/inject'], valid_ips: [] } as never;

const query = (stage: PolicyQuery['stage'], transaction: string, count = 0): PolicyQuery => ({
  stage,
  transaction,
  keyId: 'k1',
  clientAddress: '192.0.2.1',
  sender: 'app@example.com',
  recipientCount: count,
  recipient: 'user@example.net',
});

/** The embedded counters, with commit refusing while `failing` is set. */
class FlakyCounters extends EmbeddedCounterStore implements CounterStore {
  failing = false;
  override async commit(id: string, usage: CounterHold[], now?: number): Promise<void> {
    if (this.failing) throw new Error('store went away');
    return super.commit(id, usage, now);
  }
}

describe('background commit', () => {
  test('END-OF-MESSAGE passes at once and the limit stays exact', async () => {
    const counters = new FlakyCounters();
    const errors: string[] = [];
    const policy = new PolicyService(async () => key, new Limits(counters, rules, 600_000), {
      refuseUnauthenticated: false,
      onBackgroundCommitError: (_error, transaction) => errors.push(transaction),
    });
    for (const t of ['m1', 'm2']) {
      assert.equal((await policy.decide(query('recipient', t))).kind, 'pass');
      assert.equal((await policy.decide(query('end-of-message', t, 1))).kind, 'pass');
    }
    assert.equal((await policy.decide(query('recipient', 'm3'))).kind, 'over-limit');
    await policy.settle();
    assert.deepEqual(errors, []);
    const spec = { key: 'messages|key|3600000|2|k1', limit: 2, windowMs: 3_600_000 };
    assert.equal(await counters.usage(spec), 2);
  });

  test('a refused commit is reported, the message stays counted as held, settle waits for it', async () => {
    const counters = new FlakyCounters();
    const errors: Array<[string, string]> = [];
    const policy = new PolicyService(async () => key, new Limits(counters, rules, 600_000), {
      refuseUnauthenticated: false,
      onBackgroundCommitError: (error, transaction) => errors.push([transaction, error.message]),
    });
    assert.equal((await policy.decide(query('recipient', 'f1'))).kind, 'pass');
    counters.failing = true;
    assert.equal((await policy.decide(query('end-of-message', 'f1', 1))).kind, 'pass');
    await policy.settle();
    assert.deepEqual(errors, [['f1', 'store went away']]);
    counters.failing = false;
    assert.equal((await policy.decide(query('recipient', 'f2'))).kind, 'pass');
    assert.equal(
      (await policy.decide(query('recipient', 'f3'))).kind,
      'over-limit',
      'f1 is still held and f2 holds the second message',
    );
  });
});
