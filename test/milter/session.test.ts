/**
 * Specifies the milter session (negotiation, stage order, macros, replies, Postfix quirks) and
 * Sluice's filter on top of it, without sockets: the test plays the MTA with typed commands and
 * reads back the decoded responses.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import type { SluiceEvent } from '../../src/core/events.js';
import type { PolicyDecision, PolicyQuery } from '../../src/core/policy.js';
import { RelayPolicy } from '../../src/core/relay-policy.js';
import { SMFIF, SMFIP } from '../../src/milter/constants.js';
import { SluiceFilter } from '../../src/milter/filter.js';
import type { MilterHandlers } from '../../src/milter/handlers.js';
import { MilterSession } from '../../src/milter/session.js';
import {
  decodeResponse,
  type MilterCommand,
  type MilterResponse,
  PacketFramer,
} from '../../src/milter/wire.js';

const ALL_ACTIONS = 0x1ff;
const ALL_PROTOCOL = 0x1fffff;

function harness(handlers: MilterHandlers) {
  const sent: MilterResponse[] = [];
  let closed = false;
  const framer = new PacketFramer(1 << 20);
  const session = new MilterSession({
    handlers,
    send: (bytes) => sent.push(...framer.push(bytes).packets.map(decodeResponse)),
    close: () => {
      closed = true;
    },
    log: pino({ level: 'silent' }),
  });
  const run = async (...commands: MilterCommand[]) => {
    for (const command of commands) await session.receive(command);
    return sent.splice(0);
  };
  return { session, run, isClosed: () => closed };
}

const optneg = (protocol = ALL_PROTOCOL): MilterCommand => ({
  kind: 'optneg',
  version: 6,
  actions: ALL_ACTIONS,
  protocol,
});
const connect: MilterCommand = {
  kind: 'connect',
  hostname: 'h',
  family: 'inet',
  port: 1,
  address: '127.0.0.1',
};

describe('milter session', () => {
  test('negotiation intersects actions and flags and asks for the macros each stage needs', async () => {
    const { run } = harness({
      wants: {
        actions: SMFIF.ADDHDRS | SMFIF.CHGBODY,
        protocol: SMFIP.NR_HDR | SMFIP.NOHELO,
        macros: { ENVFROM: ['{auth_authen}'] },
      },
    });
    const [reply] = await run(optneg(SMFIP.NR_HDR | SMFIP.HDR_LEADSPC));
    assert.deepEqual(reply, {
      kind: 'optneg',
      version: 6,
      actions: SMFIF.ADDHDRS | SMFIF.CHGBODY | SMFIF.SETSYMLIST,
      protocol: SMFIP.NR_HDR | SMFIP.HDR_LEADSPC,
      macros: { ENVFROM: ['{auth_authen}'] },
    });
  });

  test('stages reply continue unless negotiated NR_*; macros, A and D get no reply', async () => {
    const { run } = harness({ wants: { actions: 0, protocol: SMFIP.NR_RCPT | SMFIP.NR_HDR, macros: {} } });
    await run(optneg());
    const replies = await run(
      connect,
      { kind: 'macro', stage: 'M', macros: [['{auth_authen}', 'k']] },
      { kind: 'mail', args: ['<a@b>'] },
      { kind: 'rcpt', args: ['<c@d>'] },
      { kind: 'data' },
      { kind: 'header', name: 'Subject', value: 'x' },
      { kind: 'eoh' },
      { kind: 'body', chunk: Buffer.from('x') },
      { kind: 'eom', chunk: Buffer.alloc(0) },
    );
    // connect, mail, data, eoh, body, eom: six replies; rcpt and header none.
    assert.deepEqual(
      replies.map((r) => r.kind),
      Array(6).fill('continue'),
    );
  });

  test('A drops the message macros and keeps the connection macros; K goes back to before connect', async () => {
    const { session, run, isClosed } = harness({ wants: { actions: 0, protocol: 0, macros: {} } });
    await run(
      optneg(),
      { kind: 'macro', stage: 'C', macros: [['j', 'mta.example']] },
      connect,
      {
        kind: 'macro',
        stage: 'M',
        macros: [
          ['{auth_authen}', 'key1'],
          ['i', 'Q1'],
        ],
      },
      { kind: 'mail', args: ['<a@b>'] },
    );
    assert.equal(session.ctx.macro('{auth_authen}'), 'key1');
    assert.equal(session.ctx.queueId(), undefined, 'no queue id before DATA (Postfix)');
    await run({ kind: 'macro', stage: 'T', macros: [['i', 'Q1']] }, { kind: 'data' });
    assert.equal(session.ctx.queueId(), 'Q1');
    assert.deepEqual(await run({ kind: 'abort' }), []);
    assert.equal(session.ctx.macro('auth_authen'), undefined);
    assert.equal(session.ctx.macro('j'), 'mta.example');
    assert.equal(session.state, 'conn');
    await run({ kind: 'quit_nc' });
    assert.equal(session.state, 'ready');
    assert.equal(session.ctx.macro('j'), undefined);
    assert.equal(session.ctx.client, null);
    assert.equal((await run(connect))[0]?.kind, 'continue');
    assert.equal(isClosed(), false);
  });

  test('commands out of order close the connection', async () => {
    for (const commands of [
      [connect],
      [optneg(), { kind: 'mail', args: ['<a@b>'] }],
      [optneg(), connect, { kind: 'rcpt', args: ['<a@b>'] }],
      [optneg(), optneg()],
      [
        optneg(),
        connect,
        { kind: 'mail', args: ['<a@b>'] },
        { kind: 'eoh' },
        { kind: 'header', name: 'a', value: 'b' },
      ],
    ] as MilterCommand[][]) {
      const { run, isClosed } = harness({ wants: { actions: 0, protocol: 0, macros: {} } });
      await run(...commands);
      assert.equal(isClosed(), true, commands.map((c) => c.kind).join(' '));
    }
  });

  test('HDR_LEADSPC: handlers never see the leading space; added headers get it, folded with LF', async () => {
    const seen: string[] = [];
    const { run } = harness({
      wants: { actions: SMFIF.ADDHDRS, protocol: 0, macros: {} },
      header: (_ctx, _name, value) => {
        seen.push(value);
        return undefined;
      },
      eom: async () => ({
        modifications: [{ kind: 'addheader', name: 'X-A', value: 'one\r\n\ttwo' }],
        verdict: { kind: 'continue' },
      }),
    });
    await run(optneg(SMFIP.HDR_LEADSPC), connect, { kind: 'mail', args: ['<a@b>'] });
    await run({ kind: 'header', name: 'Subject', value: ' hello' });
    const [added] = await run({ kind: 'eom', chunk: Buffer.alloc(0) });
    assert.deepEqual(seen, ['hello']);
    assert.deepEqual(added, { kind: 'addheader', name: 'X-A', value: ' one\n\ttwo' });
  });

  test('a failing handler tempfails the message, and the next message is fine', async () => {
    let fail = true;
    const { run, isClosed } = harness({
      wants: { actions: 0, protocol: SMFIP.NR_HDR, macros: {} },
      header: () => {
        if (fail) throw new Error('boom');
        return undefined;
      },
    });
    await run(
      optneg(),
      connect,
      { kind: 'mail', args: ['<a@b>'] },
      { kind: 'header', name: 'a', value: 'b' },
    );
    const [eom] = await run({ kind: 'eom', chunk: Buffer.alloc(0) });
    assert.equal(eom?.kind, 'replycode');
    assert.equal((eom as { code: number }).code, 451);
    fail = false;
    const replies = await run({ kind: 'mail', args: ['<a@b>'] }, { kind: 'eom', chunk: Buffer.alloc(0) });
    assert.deepEqual(
      replies.map((r) => r.kind),
      ['continue', 'continue'],
    );
    assert.equal(isClosed(), false);
  });
});

describe('Sluice filter', () => {
  function filterHarness(decision: PolicyDecision['kind'] = 'pass') {
    const events: SluiceEvent[] = [];
    const queries: PolicyQuery[] = [];
    const filter = new SluiceFilter({
      policy: {
        decide: async (query) => {
          queries.push(query);
          if (decision === 'key-rejected') return { kind: 'key-rejected', reason: 'grant' };
          if (decision === 'unavailable') return { kind: 'unavailable', error: new Error('down') };
          return { kind: 'pass', authenticated: true };
        },
      },
      events: {
        append: (e) => events.push(e),
        appendMany: (more) => events.push(...more),
        search: async () => [],
        page: async () => ({ events: [], next: null, total: 0 }),
      },
      relay: new RelayPolicy({ networks: ['127.0.0.0/8'], require_auth: false }),
      maxHeaderSize: 102_400,
    });
    return { ...harness(filter), events, queries };
  }
  const mailWithKey: MilterCommand[] = [
    { kind: 'macro', stage: 'M', macros: [['{auth_authen}', 'key1']] },
    { kind: 'mail', args: ['<app@example.com>'] },
  ];

  test('a key core refuses gets 550 5.7.1 at MAIL; a store failure 451', async () => {
    for (const [decision, code] of [
      ['key-rejected', 550],
      ['unavailable', 451],
    ] as const) {
      const { run, queries } = filterHarness(decision);
      await run(optneg(), connect);
      const [reply] = await run(...mailWithKey);
      assert.equal(reply?.kind, 'replycode');
      assert.equal((reply as { code: number }).code, code);
      assert.deepEqual(queries[0]?.keyId, 'key1');
      assert.equal(queries[0]?.stage, 'other', 'only the key is checked: limits are sluice policy’s');
    }
  });

  test('mail without a key from outside the trusted networks is accepted untouched', async () => {
    const { run, events } = filterHarness();
    await run(optneg(), { ...connect, address: '192.0.2.7' } as MilterCommand);
    const [reply] = await run({ kind: 'mail', args: ['<world@example.org>'] });
    assert.deepEqual(reply, { kind: 'accept' });
    assert.equal(events.length, 0);
  });

  test('X-MSYS-API: removed by index, last first; the id header added; one event per recipient', async () => {
    const { run, events } = filterHarness();
    await run(
      optneg(),
      connect,
      ...mailWithKey,
      { kind: 'rcpt', args: ['<A@Example.net>'] },
      { kind: 'rcpt', args: ['<b@example.net>'] },
    );
    await run(
      { kind: 'header', name: 'Subject', value: '=?utf-8?q?Gr=C3=BC=C3=9Fe?=' },
      { kind: 'header', name: 'X-MSYS-API', value: '{"campaign_id":"c1",\n "tags":["t"]}' },
      { kind: 'header', name: 'From', value: 'Shop <shop@example.com>' },
    );
    assert.deepEqual(await run({ kind: 'eoh' }), [], 'EOH is negotiated without a reply');
    const replies = await run(
      { kind: 'body', chunk: Buffer.from('hi\r\n') },
      { kind: 'eom', chunk: Buffer.alloc(0) },
    );
    assert.deepEqual(replies.slice(0, 1), [{ kind: 'chgheader', index: 1, name: 'X-MSYS-API', value: '' }]);
    assert.equal(replies[1]?.kind, 'addheader');
    const id = (replies[1] as { value: string }).value.trim();
    assert.match(id, /^[0-9a-f]{20}$/);
    assert.deepEqual(replies[2], { kind: 'continue' });
    assert.deepEqual(
      events.map((e) => [e.type, e.rcpt_to, e.message_id, e.campaign_id]),
      [
        ['injection', 'a@example.net', id, 'c1'],
        ['injection', 'b@example.net', id, 'c1'],
      ],
    );
    assert.equal(events[0]?.subject, 'Grüße');
    assert.equal(events[0]?.friendly_from, 'shop@example.com');
    assert.equal(events[0]?.api_key_id, 'key1');
  });

  test('EOM is answered only once its injection events are stored; a failed store tempfails it', async () => {
    for (const outcome of ['stored', 'failed'] as const) {
      let settle: (() => void) | null = null;
      const recorded: SluiceEvent[] = [];
      const filter = new SluiceFilter({
        policy: { decide: async () => ({ kind: 'pass', authenticated: true }) },
        events: {
          append: () => assert.fail('events go through record()'),
          appendMany: () => assert.fail('events go through record()'),
          search: async () => [],
          page: async () => ({ events: [], next: null, total: 0 }),
        },
        record: (events) =>
          new Promise<void>((resolve, reject) => {
            settle = () => {
              if (outcome === 'failed') return reject(new Error('store down'));
              recorded.push(...events);
              resolve();
            };
          }),
        relay: new RelayPolicy({ networks: ['127.0.0.0/8'], require_auth: false }),
        maxHeaderSize: 102_400,
      });
      const { run, session } = harness(filter);
      await run(
        optneg(),
        connect,
        ...mailWithKey,
        { kind: 'rcpt', args: ['<a@b.example>'] },
        { kind: 'eoh' },
      );
      const eom = session.receive({ kind: 'eom', chunk: Buffer.alloc(0) });
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(await run(), [], 'nothing is sent while the events are not stored');
      assert.ok(settle, 'the filter asked for its events to be recorded');
      (settle as () => void)();
      await eom;
      const replies = await run();
      if (outcome === 'stored') {
        assert.deepEqual(replies.at(-1), { kind: 'continue' });
        assert.equal(recorded.length, 1);
      } else {
        assert.deepEqual(replies, [
          { kind: 'replycode', code: 451, enhanced: '4.3.0', lines: ['Temporary filter failure'] },
        ]);
      }
    }
  });

  test('an invalid X-MSYS-API is refused at EOM (EOH has no reply) with 550 5.6.0 naming the field; no event', async () => {
    const { run, events } = filterHarness();
    await run(optneg(), connect, ...mailWithKey, { kind: 'rcpt', args: ['<a@b.example>'] });
    await run({ kind: 'header', name: 'X-MSYS-API', value: '{"metadata":[1]}' });
    assert.deepEqual(await run({ kind: 'eoh' }), []);
    await run({ kind: 'body', chunk: Buffer.from('body\r\n') });
    const [reply, ...more] = await run({ kind: 'eom', chunk: Buffer.alloc(0) });
    assert.deepEqual(more, [], 'no modification');
    assert.deepEqual(reply, {
      kind: 'replycode',
      code: 550,
      enhanced: '5.6.0',
      lines: ['X-MSYS-API: metadata must be a JSON object'],
    });
    assert.equal(events.length, 0);
  });
});
