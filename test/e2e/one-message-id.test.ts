/**
 * Specifies one message identity across the stages of a migration, with a real Postfix running
 * Sluice's milter (served by `sluice serve`, milter.with_serve) and a real `sluice serve` behind it:
 *  - stage 0 (Postfix delivers itself, here for stage0.example through transport_maps): the id is
 *    the milter's X-Sluice-Message-ID, and the injection event is filed under it;
 *  - stage 1 (Postfix relays to serve): the id Postfix logs from Sluice's "250 ... queued as" is the
 *    milter's id, the one in X-Sluice-Message-ID, the Received line, every event and the serve log's
 *    `message_id`; serve's own queue id sits beside it (`queue_id`), and `events search
 *    --message-id` and `queue show` find the message by either;
 *  - stage 2 (the app talks to serve): the 250's id is the events' and the Received line's.
 * And the attack of issue 14 (item 6): a client in relay.networks that writes a victim's id into
 * X-Sluice-Message-ID, unsigned or with a forged signature, gets its own id; the header is removed;
 * nothing is filed under the victim's id (so the victim's webhooks hear nothing of it).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { searchEvents, sluiceCli, swaks } from '../harness/clients.js';
import {
  type FaultMessage,
  type FaultScript,
  type FaultSink,
  startFaultSink,
} from '../harness/fault-sink.js';
import { freePort, waitFor } from '../harness/net.js';
import { type PostfixInstance, startPostfix } from '../harness/postfix.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

/** held.example is deferred by the sink, so its messages stay in Sluice's queue. */
const SCRIPT: FaultScript = (rcpt) =>
  rcpt.endsWith('@held.example')
    ? { kind: 'reply', code: 451, text: '4.3.0 Try again later' }
    : { kind: 'accept' };

let sink: FaultSink;
let sluice: SluiceProcess;
let postfix: PostfixInstance;
let transport = '';

interface EventRow {
  type: string;
  message_id: string;
  queue_id?: string;
  rcpt_to: string;
  campaign_id: string;
  [field: string]: unknown;
}

before(async () => {
  sink = await startFaultSink(SCRIPT);
  const milterPort = await freePort();
  sluice = await startSluice({
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'delivery.tls': 'none',
      'delivery.retry_schedule': '[1h]',
      'milter.with_serve': true,
      'milter.listen': `inet:127.0.0.1:${milterPort}`,
      'smtp.hostname': 'sluice.ids.test',
    },
  });
  // Read by Postfix's daemons: outside the data dir (0700).
  transport = path.join(tmpdir(), `sluice-ids-transport-${process.pid}`);
  writeFileSync(transport, `stage0.example smtp:[127.0.0.1]:${sink.port}\n`, { mode: 0o644 });
  postfix = await startPostfix({
    relayhost: `[127.0.0.1]:${sluice.smtpPort}`,
    extraMainCf: {
      smtpd_milters: `inet:127.0.0.1:${milterPort}`,
      milter_default_action: 'tempfail',
      milter_protocol: '6',
      transport_maps: `texthash:${transport}`,
    },
  });
});

after(async () => {
  await postfix?.stop();
  await sluice?.stop();
  await sink?.stop();
  if (sluice) rmSync(sluice.dataDir, { recursive: true, force: true });
  if (transport) rmSync(transport, { force: true });
});

const message = (subject: string, to: string, extra: string[] = []) =>
  Buffer.from(
    [
      `From: app@example.com`,
      `To: ${to}`,
      `Subject: ${subject}`,
      ...extra,
      '',
      `Body of ${subject}`,
      '',
    ].join('\r\n'),
  );

const atSink = (subject: string) =>
  waitFor(
    () => sink.messages.find((m) => m.text.includes(`Subject: ${subject}\r\n`)),
    30_000,
    `"${subject}" at the sink`,
  ) as Promise<FaultMessage>;

const headerValues = (m: FaultMessage, name: string) =>
  [...m.text.slice(0, m.text.indexOf('\r\n\r\n')).matchAll(new RegExp(`^${name}: ?(.*)$`, 'gim'))].map(
    (match) => match[1]!.trim(),
  );

/** Sluice's id as Postfix logged Sluice's reply: status=sent (250 2.0.0 Ok: queued as X). */
async function idPostfixLogged(subject: string, postfixId: string): Promise<string> {
  const line = (await waitFor(
    () =>
      postfix
        .log()
        .split('\n')
        .find((l) => l.includes(` ${postfixId}: `) && l.includes('status=sent')),
    30_000,
    `Postfix's status=sent for ${subject}`,
  ))!;
  const id = /queued as ([0-9a-f]{20})\)/.exec(line)?.[1];
  assert.ok(id, line);
  return id;
}

async function viaPostfix(subject: string, to: string, extra: string[] = []) {
  const sent = await swaks({
    port: postfix.port,
    from: 'app@example.com',
    to: [to],
    data: message(subject, to, extra),
  });
  assert.equal(sent.code, 0, sent.stdout);
  const postfixId = /queued as ([0-9A-Za-z]+)/.exec(sent.serverLines.join('\n'))?.[1];
  assert.ok(postfixId, sent.stdout);
  return postfixId;
}

const eventsOf = (id: string) => searchEvents<EventRow>(sluice.dataDir, { messageId: id });

/** Lines of serve's JSON log with this msg. */
const logLines = (msg: string) =>
  sluice
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.msg === msg);

const queue = (...args: string[]) => sluiceCli(['queue', ...args, '-o', `data_dir=${sluice.dataDir}`]);

describe('one message identity from stage 0 to stage 2', () => {
  let victimId = '';

  test('stage 0: Postfix delivers; the milter’s X-Sluice-Message-ID names the injection', async () => {
    await viaPostfix('stage zero', 'ann@stage0.example', ['X-MSYS-API: {"campaign_id":"s0"}']);
    const delivered = await atSink('stage zero');
    const [id] = headerValues(delivered, 'X-Sluice-Message-ID');
    assert.match(id ?? '', /^[0-9a-f]{20}$/, delivered.text);
    // Postfix delivered it itself: the milter's signature travels with it (core/upstream-id.ts).
    assert.equal(headerValues(delivered, 'X-Sluice-Message-Signature').length, 1);
    const events = await eventsOf(id!);
    assert.deepEqual(
      events.map((e) => [e.type, e.rcpt_to, e.campaign_id]),
      [['injection', 'ann@stage0.example', 's0']],
    );
  });

  test('stage 1: the id Postfix logs is the message’s id everywhere; the queue id sits beside it', async () => {
    const postfixId = await viaPostfix('stage one', 'bob@dest.example', [
      'X-MSYS-API: {"campaign_id":"victim-campaign","metadata":{"account":"victim"}}',
    ]);
    const delivered = await atSink('stage one');
    const id = await idPostfixLogged('stage one', postfixId);
    victimId = id;
    assert.deepEqual(headerValues(delivered, 'X-Sluice-Message-ID'), [id]);
    assert.deepEqual(headerValues(delivered, 'X-Sluice-Message-Signature'), [], 'removed by serve');
    assert.match(delivered.text, new RegExp(`\\(Sluice\\) with ESMTPS? id ${id}\\b`));

    const events = (await waitFor(
      async () => {
        const found = await eventsOf(id);
        return found.some((e) => e.type === 'delivery') ? found : null;
      },
      30_000,
      'delivery event',
    ))!;
    assert.deepEqual(events.map((e) => e.type).sort(), ['delivery', 'injection']);
    const delivery = events.find((e) => e.type === 'delivery')!;
    assert.equal(delivery.message_id, id);
    assert.equal(delivery.campaign_id, 'victim-campaign');
    const queueId = delivery.queue_id!;
    assert.match(queueId, /^[0-9a-f]{20}$/);
    assert.notEqual(queueId, id);
    // Found by its queue id too.
    assert.deepEqual(
      (await eventsOf(queueId)).map((e) => e.event_id),
      [delivery.event_id],
      'the delivery event carries the queue id',
    );
    // The serve log: message_id always the message's id, queue_id the spool's.
    for (const msg of ['accepted', 'sent']) {
      const line = logLines(msg).find((l) => l.message_id === id);
      assert.ok(line, `"${msg}" log line with message_id ${id}:\n${sluice.output()}`);
      assert.equal(line.queue_id, queueId, msg);
    }
  });

  test('stage 1, still queued: queue list, show and delete know it by either id', async () => {
    const postfixId = await viaPostfix('stage one held', 'cat@held.example');
    const id = await idPostfixLogged('stage one held', postfixId);
    const delay = (await waitFor(
      async () => (await eventsOf(id)).find((e) => e.type === 'delay'),
      30_000,
      'delay event',
    ))!;
    const queueId = delay.queue_id!;
    assert.ok(queueId && queueId !== id, JSON.stringify(delay));
    for (const name of [id, queueId]) {
      const shown = await queue('show', name, '--json');
      assert.equal(shown.code, 0, shown.stderr);
      const m = JSON.parse(shown.stdout) as { id: string; message_id: string };
      assert.deepEqual([m.message_id, m.id], [id, queueId], name);
      const text = await queue('show', name);
      assert.match(text.stdout, new RegExp(`^id: +${id}$`, 'm'));
      assert.match(text.stdout, new RegExp(`^queue id: +${queueId}$`, 'm'));
    }
    const listed = await queue('list');
    assert.match(listed.stdout, new RegExp(`^${id} `, 'm'), listed.stdout);
    const deleted = await queue('delete', id);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal((await queue('show', queueId)).code, 1, 'gone by its queue id too');
  });

  test('stage 2: the app’s own 250 id is the events’ and the Received line’s', async () => {
    const sent = await swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['dan@dest.example'],
      data: message('stage two', 'dan@dest.example'),
    });
    const id = sent.queuedId!;
    assert.match(id, /^[0-9a-f]{20}$/, sent.stdout);
    const delivered = await atSink('stage two');
    assert.match(delivered.text, new RegExp(`\\(Sluice\\) with ESMTPS? id ${id}\\b`));
    const events = (await waitFor(
      async () => {
        const found = await eventsOf(id);
        return found.length >= 2 ? found : null;
      },
      30_000,
      'injection and delivery',
    ))!;
    assert.deepEqual(events.map((e) => e.type).sort(), ['delivery', 'injection']);
    assert.ok(
      events.every((e) => e.queue_id === undefined),
      'one id: no separate queue id',
    );
  });

  test('attack: a trusted-network client borrowing a victim’s id gets its own id, nothing under the victim’s', async () => {
    assert.ok(victimId, 'stage 1 ran first');
    const keyId = (
      JSON.parse(readFileSync(path.join(sluice.dataDir, 'tracking/keys.json'), 'utf8')) as [{ id: string }]
    )[0].id;
    // A signature with the right key id but a secret the attacker made up.
    const forged = `1:${keyId}:${createHmac('sha256', 'guessed').update(`id:${victimId}`).digest().subarray(0, 16).toString('base64url')}`;
    const attempts: Array<[string, string[]]> = [
      ['borrowed unsigned', [`X-Sluice-Message-ID: ${victimId}`]],
      ['borrowed forged', [`X-Sluice-Message-ID: ${victimId}`, `X-Sluice-Message-Signature: ${forged}`]],
    ];
    for (const [subject, fields] of attempts) {
      const to = `eve-${subject.replace(' ', '-')}@attacker.example`;
      const sent = await swaks({
        port: sluice.smtpPort,
        from: 'eve@attacker.example',
        to: [to],
        data: message(subject, to, fields),
      });
      assert.equal(sent.code, 0, sent.stdout);
      const own = sent.queuedId!;
      assert.notEqual(own, victimId, subject);
      const delivered = await atSink(subject);
      assert.deepEqual(headerValues(delivered, 'X-Sluice-Message-ID'), [], `${subject}: header removed`);
      assert.deepEqual(headerValues(delivered, 'X-Sluice-Message-Signature'), []);
      const mine = (await waitFor(
        async () => {
          const found = await eventsOf(own);
          return found.some((e) => e.type === 'delivery') ? found : null;
        },
        30_000,
        `${subject}: its own events`,
      ))!;
      for (const event of mine) {
        assert.equal(event.campaign_id, '', 'nothing of the victim’s campaign');
        assert.deepEqual(event.rcpt_meta, {});
      }
      const warned = logLines('X-Sluice-Message-ID not believed: removed, the message gets its own id');
      assert.ok(
        warned.some((l) => l.message_id === own),
        `a warning names ${own}:\n${sluice.output()}`,
      );
    }
    const victims = await eventsOf(victimId);
    assert.deepEqual(
      victims.map((e) => e.rcpt_to).sort(),
      ['bob@dest.example', 'bob@dest.example'],
      'only the victim’s own injection and delivery',
    );
  });
});
