/**
 * Specifies the policy server at the protocol level, with the exact attribute sets Postfix sends
 * (authenticated ones included, which a scratch Postfix cannot produce without SASL): API key
 * grants, per-key limits with instance handling, configurable replies, store failure, and abuse
 * (malformed, binary, truncated and oversized requests, many concurrent persistent connections,
 * one address over its connection cap).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import type { PolicyConfig } from '../../src/config/sections/policy.js';
import { KeyService } from '../../src/core/keys.js';
import { Limits } from '../../src/core/limits.js';
import { PolicyService } from '../../src/core/policy.js';
import { isRefusal } from '../../src/policy/actions.js';
import { type PolicyServer, startPolicyServer } from '../../src/policy/server.js';
import { EmbeddedCounterStore } from '../../src/store/embedded/counters.js';
import { openStores } from '../../src/store/open.js';
import type { ApiKeyRecord, Stores } from '../../src/store/types.js';

const log = pino({ level: 'silent' });
let dir: string;
let stores: Stores;
let keys: KeyService;
const started: PolicyServer[] = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-policy-server-'));
  stores = await openStores(loadConfig({ overrides: [`data_dir=${dir}`] }));
  keys = new KeyService(stores.keys);
});

after(async () => {
  await Promise.all(started.map((s) => s.stop(1000)));
  await stores.close();
  rmSync(dir, { recursive: true, force: true });
});

async function server(
  overrides: string[] = [],
  findKey: (id: string) => Promise<ApiKeyRecord | null> = (id) => keys.get(id),
): Promise<PolicyServer> {
  const config: PolicyConfig = loadConfig({ overrides: [`data_dir=${dir}`, ...overrides] }).policy;
  const rules = {
    key: config.limits.key.map((r) => ({
      windowMs: r.window,
      messages: r.messages,
      recipients: r.recipients,
    })),
    sender_domain: [],
    client_address: [],
  };
  const limits = new Limits(new EmbeddedCounterStore(), rules, config.reservation_timeout);
  const policy = new PolicyService(findKey, limits, {
    refuseUnauthenticated: isRefusal(config.unauthenticated_action),
  });
  const s = await startPolicyServer({ listen: '127.0.0.1:0', config, policy, log });
  started.push(s);
  return s;
}

/** A persistent client: one request at a time, like Postfix's smtpd. */
class Client {
  private buffered = '';
  private waiting: ((reply: string) => void) | null = null;
  readonly closed: Promise<void>;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.buffered += c.toString();
      const end = this.buffered.indexOf('\n\n');
      if (end >= 0 && this.waiting) {
        const reply = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 2);
        this.waiting(reply);
        this.waiting = null;
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }
  static async connect(port: number, localAddress = '127.0.0.1'): Promise<Client> {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    await new Promise((resolve) => socket.once('connect', resolve));
    return new Client(socket);
  }
  raw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }
  send(bytes: Buffer | string): Promise<string> {
    const reply = new Promise<string>((resolve) => {
      this.waiting = resolve;
    });
    this.socket.write(bytes);
    return reply;
  }
  ask(attributes: Record<string, string>): Promise<string> {
    return this.send(
      `${Object.entries(attributes)
        .map(([k, v]) => `${k}=${v}\n`)
        .join('')}\n`,
    );
  }
  end(): void {
    this.socket.end();
  }
}

/** What Postfix sends at RCPT for an authenticated client (SMTPD_POLICY_README), trimmed of empties. */
function rcpt(instance: string, sasl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    request: 'smtpd_access_policy',
    protocol_state: 'RCPT',
    protocol_name: 'ESMTP',
    client_address: '192.0.2.10',
    client_name: 'app.example.com',
    helo_name: 'app.example.com',
    sender: 'news@example.com',
    recipient: 'user@example.net',
    recipient_count: '0',
    queue_id: '',
    instance,
    size: '1000',
    sasl_method: sasl ? 'PLAIN' : '',
    sasl_username: sasl,
    sasl_sender: '',
    encryption_protocol: 'TLSv1.3',
    ...extra,
  };
}

const eom = (instance: string, sasl: string, count: number) =>
  rcpt(instance, sasl, { protocol_state: 'END-OF-MESSAGE', recipient: '', recipient_count: String(count) });

describe('API key grants', () => {
  test('an active key with smtp/inject passes; unknown, grant-less and deleted keys get the configured REJECT', async () => {
    const s = await server(['policy.key_rejected_action=REJECT 5.7.1 No such sender key']);
    const good = await keys.create({ label: 'good', grants: ['smtp/inject'] });
    const viewer = await keys.create({ label: 'viewer', grants: ['transmissions/view'] });
    const gone = await keys.create({ label: 'gone', grants: ['smtp/inject'] });
    await keys.delete(gone.record.id);
    const c = await Client.connect(s.port);
    assert.equal(await c.ask(rcpt('i1', good.record.id)), 'action=DUNNO');
    for (const id of ['ffffffffffffffff', viewer.record.id, gone.record.id])
      assert.equal(await c.ask(rcpt('i2', id)), 'action=REJECT 5.7.1 No such sender key');
    c.end();
  });

  test('a key limited to valid_ips is refused from other client addresses', async () => {
    const s = await server();
    const key = await keys.create({ label: 'ip', grants: ['smtp/inject'], valid_ips: ['198.51.100.0/24'] });
    const c = await Client.connect(s.port);
    assert.match(await c.ask(rcpt('i1', key.record.id)), /^action=REJECT /);
    assert.equal(await c.ask(rcpt('i2', key.record.id, { client_address: '198.51.100.7' })), 'action=DUNNO');
    c.end();
  });

  test('unauthenticated requests get the configured action (DUNNO by default)', async () => {
    const plain = await Client.connect((await server()).port);
    assert.equal(await plain.ask(rcpt('i1', '')), 'action=DUNNO');
    const tagging = await Client.connect(
      (await server(['policy.unauthenticated_action="PREPEND X-Sluice-Auth: none"'])).port,
    );
    assert.equal(await tagging.ask(rcpt('i1', '')), 'action=PREPEND X-Sluice-Auth: none');
    plain.end();
    tagging.end();
  });
});

describe('per-key limits', () => {
  test('the next message over the limit gets the over-limit action; abandoned instances are released', async () => {
    const s = await server([
      'policy.limits.key=[{window: 1h, messages: 2}]',
      'policy.over_limit_action=451 4.7.1 Key {scope} over quota',
    ]);
    const key = (await keys.create({ label: 'limited', grants: ['smtp/inject'] })).record.id;
    const c = await Client.connect(s.port);
    // One message, two recipients, accepted.
    assert.equal(await c.ask(rcpt('m1', key)), 'action=DUNNO');
    assert.equal(await c.ask(rcpt('m1', key, { recipient: 'b@example.net' })), 'action=DUNNO');
    assert.equal(await c.ask(eom('m1', key, 2)), 'action=DUNNO');
    // Three transactions abandoned after RCPT (RSET, QUIT): each new instance releases the last.
    for (const i of ['a1', 'a2', 'a3']) assert.equal(await c.ask(rcpt(i, key)), 'action=DUNNO');
    assert.equal(await c.ask(rcpt('m2', key)), 'action=DUNNO');
    assert.equal(await c.ask(eom('m2', key, 1)), 'action=DUNNO');
    assert.equal(await c.ask(rcpt('m3', key)), 'action=451 4.7.1 Key key over quota');
    c.end();
  });

  test('quota held on a connection that closes is released', async () => {
    const s = await server(['policy.limits.key=[{window: 1h, messages: 1}]']);
    const key = (await keys.create({ label: 'closer', grants: ['smtp/inject'] })).record.id;
    const first = await Client.connect(s.port);
    assert.equal(await first.ask(rcpt('x1', key)), 'action=DUNNO');
    const second = await Client.connect(s.port);
    assert.match(await second.ask(rcpt('x2', key)), /^action=DEFER_IF_PERMIT 4\.7\.1 /);
    first.end();
    await first.closed;
    // The release runs as the close is noticed; ask until it has (no timing assumption).
    let reply = '';
    for (let i = 0; i < 100 && reply !== 'action=DUNNO'; i++) reply = await second.ask(rcpt(`x3-${i}`, key));
    assert.equal(reply, 'action=DUNNO');
    second.end();
  });
});

describe('store failure', () => {
  const broken = async (): Promise<ApiKeyRecord | null> => {
    throw new Error('store down');
  };
  test('defers by default, answers DUNNO when configured to fail open', async () => {
    const defer = await Client.connect((await server([], broken)).port);
    assert.equal(
      await defer.ask(rcpt('i1', '0123456789abcdef')),
      'action=DEFER_IF_PERMIT 4.3.0 Policy store unavailable, try again later',
    );
    const open = await Client.connect((await server(['policy.store_unavailable=dunno'], broken)).port);
    assert.equal(await open.ask(rcpt('i1', '0123456789abcdef')), 'action=DUNNO');
    defer.end();
    open.end();
  });
});

describe('abuse', () => {
  test('malformed, binary and unsupported requests are answered and the connection stays usable', async () => {
    const c = await Client.connect((await server()).port);
    assert.equal(await c.send('garbage\n\n'), 'action=DEFER_IF_PERMIT 4.3.5 Malformed policy request');
    assert.equal(
      await c.send(Buffer.from([0xff, 0x00, 0x3d, 0x0a, 0x0a])),
      'action=DEFER_IF_PERMIT 4.3.5 Malformed policy request',
    );
    assert.equal(
      await c.send('request=junk_policy\n\n'),
      'action=DEFER_IF_PERMIT 4.3.5 Malformed policy request',
    );
    assert.equal(await c.ask(rcpt('i1', '')), 'action=DUNNO');
    c.end();
  });

  test('an oversized request closes the connection; the server keeps serving others', async () => {
    const s = await server(['policy.max_request_size=2048']);
    const big = await Client.connect(s.port);
    big.raw(`request=smtpd_access_policy\nsender=${'x'.repeat(5000)}`);
    await big.closed;
    const truncated = await Client.connect(s.port);
    truncated.raw('request=smtpd_access_policy\nprotocol_sta');
    truncated.end();
    await truncated.closed;
    const c = await Client.connect(s.port);
    assert.equal(await c.ask(rcpt('i1', '')), 'action=DUNNO');
    c.end();
  });

  test('100 concurrent persistent connections, 20 requests each, every reply in order', async () => {
    const s = await server(['policy.limits.key=[{window: 1h, messages: 1000000}]']);
    const key = (await keys.create({ label: 'many', grants: ['smtp/inject'] })).record.id;
    const clients = await Promise.all(Array.from({ length: 100 }, () => Client.connect(s.port)));
    const replies = await Promise.all(
      clients.map(async (c, n) => {
        const out: string[] = [];
        for (let i = 0; i < 10; i++) {
          out.push(await c.ask(rcpt(`c${n}-${i}`, key)));
          out.push(await c.ask(eom(`c${n}-${i}`, key, 1)));
        }
        c.end();
        return out;
      }),
    );
    for (const r of replies) assert.deepEqual(r, Array(20).fill('action=DUNNO'));
  });

  test('an address over max_connections_per_peer is closed at once; another address is still served', async () => {
    const s = await server(['policy.max_connections_per_peer=3']);
    const held = await Promise.all([1, 2, 3].map(() => Client.connect(s.port)));
    const fourth = await Client.connect(s.port);
    await fourth.closed;
    const other = await Client.connect(s.port, '127.0.0.2');
    assert.equal(await other.ask(rcpt('p1', '')), 'action=DUNNO');
    // The held ones still answer: the cap refused only the one over it.
    assert.equal(await held[0]!.ask(rcpt('p2', '')), 'action=DUNNO');
    for (const c of [...held, other]) c.end();
  });
});
