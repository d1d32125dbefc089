/**
 * Specifies the durable spool: a message written through createWriter() and commit() is read back
 * by load() (by a fresh Spool, as after a restart) with the same envelope and byte-identical body,
 * small and large, UTF-8 envelopes included; a file without a valid footer (the process died
 * before commit, or the file was truncated) was never acknowledged and load() removes it and
 * reports it; markDone() persists finished recipients across restarts; remove() deletes the message
 * and its progress file; ids are never overwritten. Also the footer codec of spool-format.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { MessageFacts } from '../../src/core/events.js';
import { newMessageId } from '../../src/core/ids.js';
import { Spool, type SpooledMessage } from '../../src/queue/spool.js';
import {
  decodeFooter,
  encodeTrailer,
  FOOTER_LENGTH,
  FOOTER_MAGIC,
  type SpoolEnvelope,
} from '../../src/queue/spool-format.js';
import { RecycledFiles } from '../../src/queue/spool-recycle.js';

function envelopeFor(id: string, rcpts: string[], mailFrom = 'sender@example.test'): SpoolEnvelope {
  const facts: MessageFacts = {
    message_id: id,
    transmission_id: '1',
    msg_from: mailFrom,
    friendly_from: mailFrom,
    subject: 'Grüße',
    msg_size: 0,
    injection_time: new Date().toISOString(),
    recv_method: 'esmtp',
    api_key_id: null,
    client_ip: '127.0.0.1',
    msys: { campaign_id: 'c', tags: ['t'] },
  };
  return { v: 1, mail_from: mailFrom, rcpts, facts };
}

async function bodyOf(spool: Spool, message: SpooledMessage): Promise<Buffer> {
  const source = spool.body(message);
  if (Buffer.isBuffer(source)) return source;
  const chunks: Buffer[] = [];
  for await (const chunk of source as Readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Writes a message in the given chunks and commits it. */
async function spoolMessage(spool: Spool, chunks: Buffer[], rcpts = ['a@example.test']) {
  const id = newMessageId();
  const writer = await spool.createWriter(id);
  for (const chunk of chunks) await writer.write(chunk);
  const envelope = envelopeFor(id, rcpts);
  const committed = await writer.commit(envelope);
  return { id, envelope, committed, body: Buffer.concat(chunks) };
}

describe('Spool', () => {
  let dataDir: string;
  let spool: Spool;
  let broken: Array<{ file: string; why: string }>;
  const onBroken = (file: string, why: string) => broken.push({ file, why });

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-spool-'));
    spool = new Spool(dataDir);
    await spool.init();
    broken = [];
  });

  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  /** A fresh Spool on the same directory, as after a restart. */
  const restarted = () => new Spool(dataDir);

  test('lives in data_dir/spool/queue', () => {
    assert.equal(spool.dir, path.join(dataDir, 'spool', 'queue'));
    assert.ok(fs.statSync(spool.dir).isDirectory());
  });

  test('a committed small message loads back with the same envelope and body bytes', async () => {
    const body = Buffer.from('Subject: hi\r\n\r\nbody \xff\xfe bytes\r\n', 'latin1');
    const { id, envelope, committed } = await spoolMessage(spool, [body.subarray(0, 5), body.subarray(5)]);
    assert.equal(committed.messageLength, body.length);
    assert.ok(committed.body?.equals(body), 'a small body is kept in memory for the first attempt');

    const [loaded, ...rest] = await restarted().load(onBroken);
    assert.equal(rest.length, 0);
    assert.ok(loaded);
    assert.equal(loaded.id, id);
    assert.deepEqual(loaded.envelope, envelope);
    assert.equal(loaded.messageLength, body.length);
    assert.deepEqual([...loaded.done], []);
    assert.equal(loaded.body, null, 'after a restart the body is read from the file');
    assert.ok((await bodyOf(spool, loaded)).equals(body));
    assert.deepEqual(broken, []);
  });

  test('a large message (many write buffers, not kept in memory) loads back byte for byte', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(7919 + i));
    const { id, committed, body } = await spoolMessage(spool, chunks);
    assert.ok(body.length > 256 * 1024);
    assert.equal(committed.messageLength, body.length);
    assert.equal(committed.body, null, 'a large body is not kept in memory');
    const message = await spool.read(id);
    assert.ok(message);
    assert.ok((await bodyOf(spool, message)).equals(body));
  });

  test('an empty message is stored and read back as empty', async () => {
    const { id } = await spoolMessage(spool, []);
    const message = await spool.read(id);
    assert.equal(message?.messageLength, 0);
    assert.equal((await bodyOf(spool, message!)).length, 0);
  });

  test('an envelope with UTF-8 addresses and subject round-trips (lengths are counted in bytes)', async () => {
    const id = newMessageId();
    const writer = await spool.createWriter(id);
    await writer.write(Buffer.from('Subject: x\r\n\r\nbody\r\n'));
    const envelope = envelopeFor(id, ['jörg@exämple.test', 'ünïcödé@例え.テスト'], 'sénder@exämple.test');
    await writer.commit(envelope);
    const message = await restarted().read(id);
    assert.deepEqual(message?.envelope, envelope);
  });

  test('several messages load in id order, files that are not message ids are ignored', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await spoolMessage(spool, [Buffer.from(`m${i}\r\n`)])).id);
    fs.writeFileSync(path.join(spool.dir, 'README'), 'not a message');
    fs.writeFileSync(path.join(spool.dir, 'ABCDEF0123456789ABCD'), 'upper case is not an id');
    const loaded = await restarted().load(onBroken);
    assert.deepEqual(
      loaded.map((m) => m.id),
      [...ids].sort(),
    );
    assert.equal(await spool.count(), 3);
    assert.deepEqual(broken, []);
    assert.ok(fs.existsSync(path.join(spool.dir, 'README')), 'foreign files are left alone');
  });

  test('a message whose writer never committed (the process died mid-DATA) is removed on load and reported', async () => {
    const kept = await spoolMessage(spool, [Buffer.from('Subject: kept\r\n\r\n')]);
    const id = newMessageId();
    const writer = await spool.createWriter(id);
    await writer.write(randomBytes(100 * 1024)); // past the write buffer: bytes reach the file
    assert.ok(fs.statSync(spool.fileOf(id)).size > 0, 'the partial message is on disk');

    const loaded = await restarted().load(onBroken);
    assert.deepEqual(
      loaded.map((m) => m.id),
      [kept.id],
    );
    assert.equal(broken.length, 1);
    assert.equal(broken[0]!.file, spool.fileOf(id));
    assert.match(broken[0]!.why, /incomplete/);
    assert.equal(fs.existsSync(spool.fileOf(id)), false);
    await writer.abort(); // closes the handle the "dead" writer still held
  });

  test('a file cut short after commit has no valid footer: removed and reported', async () => {
    const { id } = await spoolMessage(spool, [Buffer.from('Subject: x\r\n\r\nbody\r\n')]);
    const file = spool.fileOf(id);
    fs.truncateSync(file, fs.statSync(file).size - 1);
    assert.deepEqual(await restarted().load(onBroken), []);
    assert.equal(broken.length, 1);
    assert.equal(fs.existsSync(file), false);
  });

  test('files without a footer, shorter than a footer, or empty are all removed', async () => {
    const ids = [newMessageId(), newMessageId(), newMessageId()];
    fs.writeFileSync(
      spool.fileOf(ids[0]!),
      'Subject: x\r\n\r\nbody without any envelope or footer\r\n'.repeat(3),
    );
    fs.writeFileSync(spool.fileOf(ids[1]!), 'short');
    fs.writeFileSync(spool.fileOf(ids[2]!), '');
    assert.deepEqual(await restarted().load(onBroken), []);
    assert.equal(broken.length, 3);
    assert.equal(await spool.count(), 0);
  });

  test('a footer whose lengths do not add up to the file size is not trusted', async () => {
    const { id } = await spoolMessage(spool, [Buffer.from('Subject: x\r\n\r\nbody\r\n')]);
    fs.appendFileSync(
      spool.fileOf(id),
      Buffer.concat([Buffer.from('x'), encodeTrailer(0, envelopeFor(id, []))]),
    );
    assert.deepEqual(await restarted().load(onBroken), [], 'footer lengths now disagree with the size');
  });

  test('markDone persists finished recipients across a restart, accumulating', async () => {
    const rcpts = ['a@x.test', 'b@x.test', 'c@y.test'];
    const { id } = await spoolMessage(spool, [Buffer.from('Subject: x\r\n\r\n')], rcpts);
    await spool.markDone(id, ['a@x.test']);
    await spool.markDone(id, ['c@y.test']);
    const [message] = await restarted().load(onBroken);
    assert.deepEqual([...(message?.done ?? [])].sort(), ['a@x.test', 'c@y.test']);
    assert.deepEqual(message?.envelope.rcpts, rcpts, 'the envelope itself is unchanged');
  });

  test('remove deletes the message and its progress file', async () => {
    const { id } = await spoolMessage(spool, [Buffer.from('Subject: x\r\n\r\n')]);
    await spool.markDone(id, ['a@example.test']);
    await spool.remove(id);
    assert.deepEqual(fs.readdirSync(spool.dir), []);
    assert.deepEqual(await restarted().load(onBroken), []);
    await spool.remove(id); // removing twice is harmless
  });

  test('abort drops a message that will not be acknowledged', async () => {
    const id = newMessageId();
    const writer = await spool.createWriter(id);
    await writer.write(Buffer.from('Subject: x\r\n\r\n'));
    await writer.abort();
    assert.equal(fs.existsSync(spool.fileOf(id)), false);
    assert.equal(await spool.count(), 0);
  });

  test('an id is never overwritten: a second writer for the same id is refused when it writes', async () => {
    const { id, envelope } = await spoolMessage(spool, [Buffer.from('Subject: x\r\n\r\n')]);
    const before = fs.readFileSync(spool.fileOf(id));
    const second = await spool.createWriter(id);
    await second.write(Buffer.from('Subject: other\r\n\r\n'));
    await assert.rejects(second.commit(envelope), { code: 'EEXIST' });
    await second.abort();
    assert.ok(fs.readFileSync(spool.fileOf(id)).equals(before), 'the first message is untouched');
  });

  test('spool files are private to the owner (mode 0600)', async () => {
    const { id } = await spoolMessage(spool, [Buffer.from('Subject: x\r\n\r\n')]);
    assert.equal(fs.statSync(spool.fileOf(id)).mode & 0o777, 0o600);
  });

  test('the writer streams: the file is [message][envelope JSON][footer]', async () => {
    const body = Buffer.from('Subject: layout\r\n\r\nbody\r\n');
    const { id, envelope } = await spoolMessage(spool, [body]);
    const file = fs.readFileSync(spool.fileOf(id));
    assert.ok(file.subarray(0, body.length).equals(body));
    const footer = file.subarray(file.length - FOOTER_LENGTH);
    assert.ok(footer.toString('latin1').startsWith(FOOTER_MAGIC));
    const json = file.subarray(body.length, file.length - FOOTER_LENGTH);
    assert.deepEqual(
      JSON.parse(json.toString('utf8')),
      { ...envelope, spool_id: id },
      'the envelope names its file',
    );
  });
});

describe('Spool writing threads (spool-io.ts)', () => {
  let dataDir: string;
  let spool: Spool;

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-spool-io-'));
    spool = new Spool(dataDir, { writingThreads: 2 });
    await spool.init();
  });

  afterEach(async () => {
    await spool.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a hundred messages committed in one turn all land, each readable after a restart', async () => {
    const bodies = Array.from({ length: 100 }, (_, i) =>
      Buffer.from(`Subject: m${i}\r\n\r\n${'x'.repeat(i * 37)}\r\n`),
    );
    const spooled = await Promise.all(bodies.map((body) => spoolMessage(spool, [body])));
    const loaded = await new Spool(dataDir).load(() => assert.fail('nothing broken'));
    assert.equal(loaded.length, 100);
    const byId = new Map(loaded.map((m) => [m.id, m]));
    for (const { id, body, envelope } of spooled) {
      const message = byId.get(id);
      assert.ok(message, id);
      assert.deepEqual(message.envelope, envelope);
      assert.ok((await bodyOf(spool, message)).equals(body));
    }
  });

  test('removals of one turn go together; removing a message twice is harmless', async () => {
    const ids = await Promise.all(
      Array.from({ length: 10 }, () => spoolMessage(spool, [Buffer.from('x\r\n')])),
    );
    await Promise.all(ids.map(({ id }) => spool.remove(id)));
    await spool.remove(ids[0]!.id);
    assert.equal(await spool.count(), 0);
  });

  test('a write the system refuses fails that message alone, and the spool keeps working', async () => {
    const id = newMessageId();
    const writer = await spool.createWriter(id);
    await writer.write(Buffer.from('Subject: doomed\r\n\r\n'));
    fs.rmSync(spool.dir, { recursive: true });
    await assert.rejects(writer.commit(envelopeFor(id, ['a@example.test'])), { code: 'ENOENT' });
    await writer.abort();
    await spool.init();
    const { id: kept } = await spoolMessage(spool, [Buffer.from('Subject: fine\r\n\r\n')]);
    assert.ok(await spool.read(kept));
  });

  test('a message aborted after its commit (its injection could not be recorded) leaves no file', async () => {
    const id = newMessageId();
    const writer = await spool.createWriter(id);
    await writer.write(Buffer.from('Subject: refused after commit\r\n\r\n'));
    await writer.commit(envelopeFor(id, ['a@example.test']));
    assert.ok(await spool.read(id));
    await writer.abort();
    assert.equal(await spool.count(), 0);
  });

  test('an aborted large message leaves no file; a small one never had one', async () => {
    const large = await spool.createWriter(newMessageId());
    await large.write(randomBytes(100 * 1024));
    assert.equal(await spool.count(), 1, 'a large message reaches its file while being received');
    await large.abort();
    const small = await spool.createWriter(newMessageId());
    await small.write(Buffer.from('Subject: small\r\n\r\n'));
    assert.equal(await spool.count(), 0, 'a small one is still in memory');
    await small.abort();
    assert.equal(await spool.count(), 0);
    assert.deepEqual(fs.readdirSync(spool.dir), []);
  });
});

describe('Spool file recycling (spool-recycle.ts)', () => {
  let dataDir: string;
  let spool: Spool;
  const inodes = (ids: string[]) => new Set(ids.map((id) => fs.statSync(spool.fileOf(id)).ino));

  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-spool-recycle-'));
    spool = new Spool(dataDir, { writingThreads: 1 });
    await spool.init();
  });

  afterEach(async () => {
    await spool.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('a delivered message file is reused by a later message, which reads back exactly', async () => {
    const first = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        spoolMessage(spool, [Buffer.from(`Subject: long ${i}\r\n\r\n${'y'.repeat(4000)}\r\n`)]),
      ),
    );
    const before = inodes(first.map((m) => m.id));
    await Promise.all(first.map(({ id }) => spool.remove(id)));
    assert.equal(await spool.count(), 0);
    // Shorter than the files they reuse: nothing of the old message may survive past the new one.
    const second = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        spoolMessage(spool, [Buffer.from(`Subject: short ${i}\r\n\r\nz\r\n`)]),
      ),
    );
    const after = inodes(second.map((m) => m.id));
    assert.deepEqual([...after].sort(), [...before].sort(), 'the same five inodes, under new names');
    const loaded = await new Spool(dataDir).load(() => assert.fail('nothing broken'));
    assert.deepEqual(loaded.map((m) => m.id).sort(), second.map((m) => m.id).sort());
    for (const { id, body, envelope } of second) {
      const message = loaded.find((m) => m.id === id)!;
      assert.deepEqual(message.envelope, envelope);
      assert.ok((await bodyOf(spool, message)).equals(body));
    }
  });

  test('a reused file never overwrites an existing id', async () => {
    const { id: gone } = await spoolMessage(spool, [Buffer.from('Subject: gone\r\n\r\n')]);
    await spool.remove(gone);
    const { id, envelope } = await spoolMessage(spool, [Buffer.from('Subject: stays\r\n\r\n')]);
    const { id: gone2 } = await spoolMessage(spool, [Buffer.from('Subject: gone too\r\n\r\n')]);
    await spool.remove(gone2);
    const before = fs.readFileSync(spool.fileOf(id));
    const second = await spool.createWriter(id);
    await second.write(Buffer.from('Subject: other\r\n\r\n'));
    await assert.rejects(second.commit(envelope), { code: 'EEXIST' });
    await second.abort();
    assert.ok(fs.readFileSync(spool.fileOf(id)).equals(before));
  });

  test('a file whose envelope names another id is not read as a message (a stale recycled file)', async () => {
    const { id } = await spoolMessage(spool, [Buffer.from('Subject: old\r\n\r\n')]);
    const other = newMessageId();
    fs.renameSync(spool.fileOf(id), spool.fileOf(other));
    const broken: string[] = [];
    assert.deepEqual(await new Spool(dataDir).load((file) => broken.push(file)), []);
    assert.deepEqual(broken, [spool.fileOf(other)]);
  });

  test('a free file still linked as a message (a crash between link and unlink) is never reused', () => {
    const free = path.join(dataDir, 'free-test');
    fs.mkdirSync(free);
    const live = path.join(dataDir, 'live');
    fs.writeFileSync(live, 'a live message');
    fs.linkSync(live, path.join(free, 'crashed'));
    const files = new RecycledFiles(free);
    const target = path.join(dataDir, 'target');
    const fd = files.take(target);
    fs.writeSync(fd, 'new');
    fs.closeSync(fd);
    assert.equal(fs.readFileSync(live, 'utf8'), 'a live message', 'the live message is untouched');
    assert.notEqual(fs.statSync(target).ino, fs.statSync(live).ino, 'the new message got a file of its own');
    assert.deepEqual(fs.readdirSync(free), [], 'the stale free name is dropped');
  });

  test('large files are deleted, not kept; a removed file that is already gone is fine', () => {
    const free = path.join(dataDir, 'free-test');
    const files = new RecycledFiles(free);
    const big = path.join(dataDir, 'big');
    fs.writeFileSync(big, Buffer.alloc(200 * 1024));
    files.give(big);
    assert.equal(fs.existsSync(big), false);
    assert.deepEqual(fs.readdirSync(free), []);
    files.give(path.join(dataDir, 'never-there'));
    const small = path.join(dataDir, 'small');
    fs.writeFileSync(small, 'x');
    files.give(small);
    assert.equal(fs.readdirSync(free).length, 1);
  });
});

describe('spool-format footer', () => {
  const envelope: SpoolEnvelope = {
    v: 1,
    mail_from: 'é@x.test',
    rcpts: ['r@x.test'],
    facts: {} as MessageFacts,
  };

  test('encodeTrailer ends with a fixed-length footer giving message and JSON lengths', () => {
    const trailer = encodeTrailer(1234, envelope);
    const footer = trailer.subarray(trailer.length - FOOTER_LENGTH);
    const jsonLength = Buffer.byteLength(JSON.stringify(envelope));
    assert.equal(trailer.length, jsonLength + FOOTER_LENGTH);
    assert.match(footer.toString('latin1'), /^SLUICE-SPOOL-1:000000001234:\d{10}\n$/);
    assert.deepEqual(decodeFooter(footer, 1234 + trailer.length), { messageLength: 1234, jsonLength });
  });

  test('decodeFooter refuses a wrong file size, a wrong magic or garbage', () => {
    const trailer = encodeTrailer(10, envelope);
    const footer = trailer.subarray(trailer.length - FOOTER_LENGTH);
    assert.equal(decodeFooter(footer, 10 + trailer.length + 1), null);
    assert.equal(decodeFooter(footer, 10 + trailer.length - 1), null);
    const wrongMagic = Buffer.from(footer.toString('latin1').replace('SLUICE', 'SLOICE'), 'latin1');
    assert.equal(decodeFooter(wrongMagic, 10 + trailer.length), null);
    assert.equal(decodeFooter(Buffer.alloc(FOOTER_LENGTH, 0x41), 10 + trailer.length), null);
  });
});
