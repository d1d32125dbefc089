/**
 * The EventStore contract, run against every adapter (embedded-events.test.ts,
 * redis-stores.test.ts): an appended event is found at once, newest first, by type, recipient
 * (case-insensitive), message id and time, filters combine, and `limit` bounds the answer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventType, SluiceEvent } from '../../src/core/events.js';
import type { EventStore } from '../../src/store/types.js';

let seq = 0;
function event(type: EventType, messageId: string, rcpt: string, timestamp: string): SluiceEvent {
  seq++;
  return {
    type,
    event_id: `${Date.now()}${String(seq).padStart(6, '0')}`,
    timestamp,
    message_id: messageId,
    rcpt_to: rcpt,
    subject: `event ${seq}`,
  };
}

export function eventContract(name: string, open: () => Promise<EventStore>): void {
  test(`${name}: events are found by message id, recipient, type and time, newest first`, async () => {
    const store = await open();
    const base = Date.parse('2026-05-01T00:00:00.000Z');
    const at = (s: number) => new Date(base + s * 1000).toISOString();
    const written: SluiceEvent[] = [];
    for (let i = 0; i < 30; i++) {
      const e = event(
        i % 3 === 0 ? 'injection' : i % 3 === 1 ? 'delivery' : 'bounce',
        `msg-${Math.floor(i / 3)}`,
        `r${i % 5}@events.example`,
        at(i),
      );
      store.append(e);
      written.push(e);
    }
    const ids = (events: SluiceEvent[]) => events.map((e) => e.subject);

    const byMessage = await store.search({ messageId: 'msg-4' });
    assert.deepEqual(ids(byMessage), ids(written.slice(12, 15).reverse()));

    const byRecipient = await store.search({ recipient: 'R2@Events.Example' });
    assert.deepEqual(ids(byRecipient), ids(written.filter((_, i) => i % 5 === 2).reverse()));

    const bounces = await store.search({ types: ['bounce'] });
    assert.ok(bounces.length >= 10);
    assert.ok(bounces.every((e) => e.type === 'bounce'));

    const recent = await store.search({ since: at(25), messageId: 'msg-8' });
    assert.deepEqual(ids(recent), ids([written[26]!, written[25]!]));

    const sinceOnly = await store.search({ since: at(27) });
    assert.deepEqual(ids(sinceOnly).slice(0, 3), ids(written.slice(27).reverse()));

    const combined = await store.search({ recipient: 'r0@events.example', types: ['injection'] });
    assert.deepEqual(ids(combined), ids(written.filter((_, i) => i % 5 === 0 && i % 3 === 0).reverse()));

    const limited = await store.search({ recipient: 'r1@events.example', limit: 2 });
    assert.deepEqual(
      ids(limited),
      ids(
        written
          .filter((_, i) => i % 5 === 1)
          .reverse()
          .slice(0, 2),
      ),
    );

    assert.deepEqual(await store.search({ messageId: 'no-such-message' }), []);
  });

  test(`${name}: events are found by campaign, sender, transmission id and a time range`, async () => {
    const store = await open();
    const base = Date.parse('2026-06-01T00:00:00.000Z');
    const at = (s: number) => new Date(base + s * 1000).toISOString();
    const written: SluiceEvent[] = [];
    for (let i = 0; i < 12; i++) {
      const e = {
        ...event('delivery', `cs-${i}`, `c${i}@filters.example`, at(i)),
        campaign_id: i % 3 === 0 ? 'spring' : 'autumn',
        msg_from: i % 2 === 0 ? 'News@Shop.Example' : 'billing@shop.example',
        transmission_id: `77${i % 4}`,
      };
      store.append(e);
      written.push(e);
    }
    const subjects = (events: SluiceEvent[]) => events.map((e) => e.subject);
    const expect = (pick: (e: SluiceEvent, i: number) => boolean) => subjects(written.filter(pick).reverse());

    assert.deepEqual(
      subjects(await store.search({ campaign: 'spring' })),
      expect((e) => e.campaign_id === 'spring'),
    );
    assert.deepEqual(
      subjects(await store.search({ sender: 'news@shop.example' })),
      expect((_, i) => i % 2 === 0),
      'the sender matches whatever its case',
    );
    assert.deepEqual(
      subjects(await store.search({ transmissionId: '771' })),
      expect((e) => e.transmission_id === '771'),
    );
    assert.deepEqual(
      subjects(await store.search({ since: at(3), until: at(6), recipient: undefined })),
      expect((_, i) => i >= 3 && i <= 6),
      'since and until both inclusive',
    );
    assert.deepEqual(
      subjects(await store.search({ until: at(2), campaign: 'spring', sender: 'NEWS@shop.example' })),
      expect((_, i) => i === 0),
    );
    assert.deepEqual(await store.search({ campaign: 'winter' }), []);
  });

  test(`${name}: page filters, counts and pages newest first with a cursor; appendMany`, async () => {
    const store = await open();
    const batch = Array.from({ length: 12 }, (_, i) =>
      event(
        i % 2 ? 'delivery' : 'injection',
        `pg-${i % 4}`,
        `pg${i % 3}@page.example`,
        new Date().toISOString(),
      ),
    );
    store.appendMany(batch);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < 10; n++) {
      const page = await store.page({
        recipients: ['PG0@page.example', 'pg1@page.example'],
        limit: 3,
        ...(cursor && { cursor }),
      });
      assert.equal(page.total, 8);
      seen.push(...page.events.map((e) => String(e.subject)));
      if (!page.next) break;
      cursor = page.next;
    }
    assert.deepEqual(
      seen,
      batch
        .filter((_, i) => i % 3 !== 2)
        .reverse()
        .map((e) => String(e.subject)),
    );
    const injections = await store.page({ messageIds: ['pg-0', 'pg-1'], types: ['injection'], limit: 100 });
    assert.equal(injections.total, 3);
    assert.ok(injections.events.every((e) => e.type === 'injection'));
    await assert.rejects(store.page({ limit: 1, cursor: 'bogus' }), /invalid cursor/);
  });

  test(`${name}: the whole event comes back as it was appended`, async () => {
    const store = await open();
    const e = {
      ...event('click', 'msg-whole', 'w@events.example', new Date().toISOString()),
      rcpt_meta: { a: [1, 'x'] },
      rcpt_tags: [],
    };
    store.append(e);
    assert.deepEqual(await store.search({ messageId: 'msg-whole' }), [e]);
  });

  test(`${name}: a message's events are found by its queue id as by its message id`, async () => {
    const store = await open();
    const now = new Date().toISOString();
    const injection = event('injection', 'msg-named-upstream', 'q@events.example', now);
    const delivery = event('delivery', 'msg-named-upstream', 'q@events.example', now);
    delivery.queue_id = 'q-local';
    store.append(injection);
    store.appendMany([delivery]);
    const subjects = (events: SluiceEvent[]) => events.map((e) => e.subject);
    assert.deepEqual(subjects(await store.search({ messageId: 'msg-named-upstream' })), [
      delivery.subject,
      injection.subject,
    ]);
    assert.deepEqual(subjects(await store.search({ messageId: 'q-local' })), [delivery.subject]);
    assert.deepEqual(subjects(await store.search({ messageId: 'q-local', types: ['injection'] })), []);
    const page = await store.page({ messageIds: ['q-local'], limit: 10 });
    assert.deepEqual([subjects(page.events), page.total], [[delivery.subject], 1]);
  });
}
