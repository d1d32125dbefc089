/**
 * Specifies outbound TLS per destination against real smtp-server sinks offering STARTTLS:
 * "may" (the default) encrypts with a self-signed peer without verifying it; "require" refuses a
 * certificate it cannot verify (the message is deferred with the reason, nothing is sent) and
 * accepts one signed by a CA given in config; "require" also defers when the peer offers no
 * STARTTLS; "none" never starts TLS; a per-domain override applies to that domain only.
 * Also the ESMTP extensions: BODY=8BITMIME and SMTPUTF8 are used when the peer offers them.
 */
import assert from 'node:assert/strict';
import { afterEach, before, describe, test } from 'node:test';
import { generate } from 'selfsigned';
import { type Attempt, Deliverer } from '../../src/delivery/deliver.js';
import { ConnectionPool, type PoolOptions, type TlsPolicy } from '../../src/delivery/pool.js';
import { staticResolver } from '../../src/delivery/resolver.js';
import { Router } from '../../src/delivery/route.js';
import { type Override, Shaper, ShapingPolicy } from '../../src/delivery/shaping.js';
import { type Sink, type SinkOptions, startSink } from '../harness/sink.js';

const MX = 'mx.secure.test';
const BODY = Buffer.from('From: s@origin.test\r\nSubject: tls\r\n\r\nhello\r\n');

type Options = NonNullable<Parameters<typeof generate>[1]>;

interface Pems {
  ca: { key: string; cert: string };
  selfSigned: { key: string; cert: string };
  signed: { key: string; cert: string };
}

async function makeCertificates(): Promise<Pems> {
  const ca = await generate([{ name: 'commonName', value: 'Sluice Test CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 2 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
  } as Options);
  const server = {
    keyType: 'ec',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 2 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: [{ type: 2, value: MX }] },
    ],
  } as Options;
  const selfSigned = await generate([{ name: 'commonName', value: MX }], server);
  const signed = await generate([{ name: 'commonName', value: MX }], {
    ...server,
    ca: { key: ca.private, cert: ca.cert },
  });
  return {
    ca: { key: ca.private, cert: ca.cert },
    selfSigned: { key: selfSigned.private, cert: selfSigned.cert },
    signed: { key: signed.private, cert: signed.cert },
  };
}

describe('outbound TLS policy', () => {
  let pems: Pems;
  const cleanups: Array<() => Promise<void> | void> = [];
  before(async () => {
    pems = await makeCertificates();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(
    sinkOptions: SinkOptions,
    tls: TlsPolicy,
    extra: { ca?: string; destinations?: Record<string, Override> } = {},
  ) {
    const sink: Sink = await startSink(sinkOptions);
    cleanups.push(() => sink.stop());
    const options: PoolOptions = {
      maxPerHop: 2,
      maxMessages: 10,
      idleMs: 5000,
      connectMs: 5000,
      commandMs: 10_000,
      heloName: 'sluice.test',
      tls,
      ca: extra.ca,
    };
    const pool = new ConnectionPool(options);
    cleanups.push(() => pool.closeAll());
    const resolver = staticResolver({
      mx: {
        'secure.test': [{ exchange: MX, priority: 10 }],
        'strict.test': [{ exchange: MX, priority: 10 }],
      },
      a: { [MX]: ['127.0.0.1'] },
    });
    const policy = new ShapingPolicy(
      { maxConnections: 5, maxMessagesPerConnection: 10, maxPerMinute: null },
      extra.destinations ?? {},
    );
    const deliverer = new Deliverer(new Router(resolver, sink.port, null), pool, {
      policy,
      shaper: new Shaper(),
    });
    return { sink, deliverer };
  }

  function attempt(domain = 'secure.test', rcpt = `user@${domain}`, from = 's@origin.test'): Attempt {
    return { domain, mailFrom: from, rcpts: [rcpt], size: BODY.length, body: () => BODY };
  }

  test('"may" encrypts with a self-signed peer, without verifying it', async () => {
    const { sink, deliverer } = await setup({ tls: pems.selfSigned }, 'may');
    const [result] = await deliverer.attempt(attempt());
    assert.equal(result?.status, 'delivered', result?.text);
    assert.equal(sink.messages.length, 1);
    assert.equal(sink.messages[0]!.secure, true, 'STARTTLS was used');
  });

  test('"require" refuses a certificate it cannot verify: deferred with the reason, nothing sent', async () => {
    const { sink, deliverer } = await setup({ tls: pems.selfSigned }, 'require');
    const [result] = await deliverer.attempt(attempt());
    assert.equal(result?.status, 'defer');
    assert.equal(result?.enhanced, '4.4.1');
    assert.match(result!.text, /self[- ]signed|certificate/i);
    assert.equal(sink.messages.length, 0);
  });

  test('"require" accepts a certificate signed by the CA given in config', async () => {
    const { sink, deliverer } = await setup({ tls: pems.signed }, 'require', { ca: pems.ca.cert });
    const [result] = await deliverer.attempt(attempt());
    assert.equal(result?.status, 'delivered', result?.text);
    assert.equal(sink.messages[0]?.secure, true);
  });

  test('"require" defers when the peer offers no STARTTLS', async () => {
    const { sink, deliverer } = await setup({}, 'require', { ca: pems.ca.cert });
    const [result] = await deliverer.attempt(attempt());
    assert.equal(result?.status, 'defer');
    assert.equal(sink.messages.length, 0);
  });

  test('"none" sends in plaintext although STARTTLS is offered', async () => {
    const { sink, deliverer } = await setup({ tls: pems.selfSigned }, 'none');
    const [result] = await deliverer.attempt(attempt());
    assert.equal(result?.status, 'delivered', result?.text);
    assert.equal(sink.messages[0]?.secure, false);
  });

  test('a per-domain override: "require" for strict.test only, the default "may" for the rest', async () => {
    const { sink, deliverer } = await setup({ tls: pems.selfSigned }, 'may', {
      destinations: { 'strict.test': { tls: 'require' } },
    });
    const [strict] = await deliverer.attempt(attempt('strict.test'));
    const [relaxed] = await deliverer.attempt(attempt('secure.test'));
    assert.equal(strict?.status, 'defer');
    assert.equal(relaxed?.status, 'delivered', relaxed?.text);
    assert.deepEqual(
      sink.messages.map((m) => m.rcptTo[0]),
      ['user@secure.test'],
    );
  });

  test('BODY=8BITMIME is declared, and SMTPUTF8 for an internationalized address, when offered', async () => {
    const { sink, deliverer } = await setup({}, 'none');
    const ascii = await deliverer.attempt(attempt());
    const intl = await deliverer.attempt(attempt('secure.test', 'josé@secure.test', 'sénder@origin.test'));
    assert.equal(ascii[0]?.status, 'delivered');
    assert.equal(intl[0]?.status, 'delivered', intl[0]?.text);
    assert.equal(sink.messages[0]?.mailParams.BODY, '8BITMIME');
    assert.equal(sink.messages[0]?.mailParams.SMTPUTF8, undefined);
    assert.equal(sink.messages[1]?.mailParams.SMTPUTF8, true);
    assert.equal(sink.messages[1]?.rcptTo[0], 'josé@secure.test');
  });
});
