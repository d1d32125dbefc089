/**
 * Specifies DKIM signing: keys from PEM files (RSA → rsa-sha256, Ed25519 → ed25519-sha256,
 * anything else refused naming the file), chosen by the From: domain (exact, parent, "*"), with
 * relaxed/relaxed canonicalization. Each signed message is delivered to a real sink and the bytes
 * the sink received are verified with mailauth's verifier, whose DNS answers the test's public
 * key; a message changed after signing fails that verification (so the check is real).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { Deliverer } from '../../src/delivery/deliver.js';
import { DkimSigner, fromDomain } from '../../src/delivery/dkim.js';
import { ConnectionPool } from '../../src/delivery/pool.js';
import { staticResolver } from '../../src/delivery/resolver.js';
import { parseRelayHost, Router } from '../../src/delivery/route.js';
import { type Sink, startSink } from '../harness/sink.js';

const MESSAGE = Buffer.from(
  [
    'From: "App" <app@mail.example.test>',
    'To: user@dest.test',
    'Subject: Signed   with  spaces',
    'Date: Mon, 23 Nov 2026 12:00:00 +0000',
    'Message-ID: <dkim-test@mail.example.test>',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hello,  this is the body.  ',
    'Second line',
    '',
  ].join('\r\n'),
);

/** The DNS TXT record of a public key (RFC 6376 3.6.1; Ed25519 as the raw 32 bytes, RFC 8463). */
function txtRecord(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  if (publicKey.asymmetricKeyType === 'ed25519')
    return `v=DKIM1; k=ed25519; p=${der.subarray(der.length - 32).toString('base64')}`;
  return `v=DKIM1; k=rsa; p=${der.toString('base64')}`;
}

describe('DKIM signing', () => {
  let dir: string;
  let sink: Sink;
  let pool: ConnectionPool;
  let deliverer: Deliverer;
  const dns = new Map<string, string>();
  const files: Record<string, string> = {};

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-dkim-'));
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const [name, pair] of Object.entries({ rsa, ed, ec })) {
      files[name] = path.join(dir, `${name}.pem`);
      writeFileSync(files[name]!, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    }
    dns.set('rsa2026._domainkey.example.test', txtRecord(rsa.publicKey));
    dns.set('ed2026._domainkey.ed.test', txtRecord(ed.publicKey));
    sink = await startSink();
    pool = new ConnectionPool({
      maxPerHop: 2,
      maxMessages: 100,
      idleMs: 5000,
      connectMs: 5000,
      commandMs: 10_000,
      heloName: 'sluice.test',
      tls: 'none',
    });
    deliverer = new Deliverer(
      new Router(staticResolver({}), 25, parseRelayHost(`[127.0.0.1]:${sink.port}`, 25)),
      pool,
    );
  });

  after(async () => {
    pool.closeAll();
    await sink.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const resolver = async (name: string, type: string) => {
    const record = type === 'TXT' ? dns.get(name) : undefined;
    if (!record) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return [[record]];
  };

  /** Delivers through the Deliverer with the signer as the last stage; returns the sink's bytes. */
  async function deliverSigned(signer: DkimSigner, message: Buffer, chunked = false): Promise<Buffer> {
    const before = sink.messages.length;
    const body = (): Buffer | Readable => {
      if (!chunked) return signer.stage(message);
      // A streamed source (as a spool file is) must be signed over all of its chunks.
      const source = new PassThrough();
      for (let at = 0; at < message.length; at += 17) source.write(message.subarray(at, at + 17));
      source.end();
      return signer.stage(source);
    };
    const [result] = await deliverer.attempt({
      domain: 'dest.test',
      mailFrom: 'app@mail.example.test',
      rcpts: ['user@dest.test'],
      size: message.length,
      body,
    });
    assert.equal(result?.status, 'delivered', result?.text);
    assert.equal(sink.messages.length, before + 1);
    return sink.messages.at(-1)!.data;
  }

  async function verify(bytes: Buffer) {
    const { results } = await dkimVerify(bytes, { resolver });
    return results;
  }

  for (const [name, domain, selector, algorithm] of [
    ['RSA', 'example.test', 'rsa2026', 'rsa-sha256'],
    ['Ed25519', 'ed.test', 'ed2026', 'ed25519-sha256'],
  ] as const) {
    test(`${name}: the delivered message verifies (${algorithm}, relaxed/relaxed)`, async () => {
      const signer = DkimSigner.fromConfig([
        { domain, selector, key_file: files[name === 'RSA' ? 'rsa' : 'ed']!, signing_domain: null },
      ]);
      const message = Buffer.from(MESSAGE.toString().replace('mail.example.test>', `mail.${domain}>`));
      const received = await deliverSigned(signer, message);
      assert.match(received.toString(), /^DKIM-Signature: /);
      assert.match(received.toString(), new RegExp(`a=${algorithm}`));
      assert.match(received.toString(), /c=relaxed\/relaxed/);
      const results = await verify(received);
      assert.equal(results.length, 1);
      assert.equal(results[0]!.status.result, 'pass', JSON.stringify(results[0]!.status));
      assert.equal(results[0]!.signingDomain, domain);

      const tampered = Buffer.from(received.toString().replace('Second line', 'Second line!'));
      // mailauth reports a body hash mismatch as "neutral" (body hash did not verify), never "pass".
      const [broken] = await verify(tampered);
      assert.match(broken!.status.result, /^(fail|neutral)$/);
      assert.match(String(broken!.status.comment), /body hash/i);
    });
  }

  test('a streamed source is signed over the whole message', async () => {
    const signer = DkimSigner.fromConfig([
      { domain: 'example.test', selector: 'rsa2026', key_file: files.rsa!, signing_domain: null },
    ]);
    const received = await deliverSigned(signer, MESSAGE, true);
    assert.equal((await verify(received))[0]!.status.result, 'pass');
  });

  test('no key for the From: domain: the message goes out unchanged', async () => {
    const signer = DkimSigner.fromConfig([
      { domain: 'other.test', selector: 'rsa2026', key_file: files.rsa!, signing_domain: null },
    ]);
    const received = await deliverSigned(signer, MESSAGE);
    assert.deepEqual(received, MESSAGE);
  });

  test('key choice: exact domain, then parent, then "*"', () => {
    const key = (domain: string) => ({ domain, selector: 's', key_file: files.rsa!, signing_domain: null });
    const signer = DkimSigner.fromConfig([key('example.test'), key('sub.example.test'), key('*')]);
    assert.equal(signer.keyFor('sub.example.test')?.domain, 'sub.example.test');
    assert.equal(signer.keyFor('deep.sub.example.test')?.domain, 'sub.example.test');
    assert.equal(signer.keyFor('mail.EXAMPLE.test')?.domain, 'example.test');
    assert.equal(signer.keyFor('unrelated.test')?.domain, '*');
    assert.equal(DkimSigner.fromConfig([key('example.test')]).keyFor('unrelated.test'), undefined);
  });

  test('fromDomain reads the From: header, folded or not', () => {
    assert.equal(fromDomain(MESSAGE), 'mail.example.test');
    assert.equal(
      fromDomain(Buffer.from('Subject: x\r\nFROM: "A, B"\r\n <a@Fold.Test>\r\n\r\nbody')),
      'fold.test',
    );
    assert.equal(fromDomain(Buffer.from('Subject: no from\r\n\r\nFrom: body@not.header\r\n')), undefined);
  });

  test('a key file that is missing, not a key, or neither RSA nor Ed25519 is refused naming the file', () => {
    const bad = path.join(dir, 'bad.pem');
    writeFileSync(bad, 'not a key');
    for (const [file, expected] of [
      [path.join(dir, 'missing.pem'), /cannot read .*missing\.pem/],
      [bad, /bad\.pem is not a PEM private key/],
      [files.ec!, /ec\.pem is ec; expected RSA or Ed25519/],
    ] as const) {
      assert.throws(
        () =>
          DkimSigner.fromConfig([{ domain: 'x.test', selector: 's', key_file: file, signing_domain: null }]),
        expected,
      );
    }
  });
});
