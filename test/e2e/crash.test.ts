/**
 * Specifies that a 250 from Sluice is a promise kept across kill -9: a real `sluice serve` gets 500
 * uniquely tagged messages (X-Test-Seq: n) over 10 concurrent SMTP connections and is SIGKILLed
 * once about half were acknowledged, while injections are still in flight; a new process on the
 * same data dir then delivers every acknowledged message to a recording sink. None is lost.
 *
 * A (exactly once): the relayhost hangs up on every connection before the kill, so nothing was delivered
 *   yet: every acked message is in the spool after the kill and arrives exactly once afterwards;
 *   a message that arrives without having been acked is only one whose 250 the kill swallowed
 *   (its file was complete), never a truncated one.
 * B (deliveries in flight): the sink is up from the start, so the kill also interrupts deliveries.
 *   Every acked message still arrives; a copy arrives twice only when the sink had taken it but
 *   Sluice had not recorded that yet (RFC 1047), at most one per outbound connection.
 *
 * Every 5th message also has a recipient in a second domain (a second delivery job), so a restart
 * also resumes messages delivered to one domain but not yet the other (the `<id>.done` side file).
 * Both runs check the events: every delivered copy has an injection and a delivery event.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import { searchEvents } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, startSluice } from '../harness/sluice-process.js';

const TOTAL = 500;
const CONNECTIONS = 10;
const KILL_AFTER_ACKS = 250;
const MAX_PER_DESTINATION = 5;
const SPOOL_FILE = /^[0-9a-f]{20}$/;
/** Sluice's own Received header names the id the message was queued under. */
const SLUICE_ID = /\(Sluice\) with E?SMTP\S* id ([0-9a-f]{20})/;

function recipientsOf(seq: number): string[] {
  const rcpts = [`r${seq}@alpha.example`];
  if (seq % 5 === 0) rcpts.push(`r${seq}@beta.example`);
  return rcpts;
}

function messageOf(seq: number): string {
  const filler = `${'crash test filler line '.repeat(3)}${seq}\r\n`.repeat(20);
  return [
    'From: Crash Test <app@example.com>',
    `To: ${recipientsOf(seq).join(', ')}`,
    `Subject: crash test message ${seq}`,
    `Message-ID: <crash-${seq}@sluice.test>`,
    `X-Test-Seq: ${seq}`,
    '',
    `Message ${seq} starts here.`,
    filler,
    `End of message ${seq}.`,
    '',
  ].join('\r\n');
}

interface Injection {
  /** seq -> the id Sluice queued it under, for every message that got a 250. */
  acked: Map<number, string>;
  /** Sends that were on the wire when the kill came and never got a reply: their 250 may be lost. */
  unanswered: Set<number>;
  /** Sends refused or failed before the kill: must be none. */
  failedBeforeKill: string[];
  /** Sends awaiting a reply at the moment SIGKILL was sent. */
  inFlightAtKill: number;
}

/** Injects TOTAL messages over CONNECTIONS connections; SIGKILLs the server after KILL_AFTER_ACKS acks. */
async function injectAndKill(sluice: SluiceProcess): Promise<Injection> {
  const acked = new Map<number, string>();
  const unanswered = new Set<number>();
  const pending = new Set<number>();
  const failedBeforeKill: string[] = [];
  let inFlightAtKill = -1;
  let killed = false;
  let next = 1;

  const kill = () => {
    if (killed) return;
    killed = true;
    inFlightAtKill = pending.size;
    sluice.child.kill('SIGKILL');
  };

  const worker = async (index: number) => {
    const connection = new SMTPConnection({
      host: '127.0.0.1',
      port: sluice.smtpPort,
      name: `crash${index}.client.test`,
      ignoreTLS: true,
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 30_000,
    });
    connection.on('error', () => {});
    try {
      await new Promise<void>((resolve, reject) =>
        connection.connect((error) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      if (!killed) failedBeforeKill.push(`connect: ${(error as Error).message}`);
      return;
    }
    try {
      while (!killed && next <= TOTAL) {
        const seq = next++;
        pending.add(seq);
        const outcome = await new Promise<{ ok: true; response: string } | { ok: false; error: Error }>(
          (resolve) =>
            connection.send(
              { from: 'app@example.com', to: recipientsOf(seq) },
              messageOf(seq),
              (error, info) => resolve(error ? { ok: false, error } : { ok: true, response: info.response }),
            ),
        );
        pending.delete(seq);
        if (outcome.ok) {
          const id = /queued as ([0-9a-f]{20})/.exec(outcome.response)?.[1];
          if (!id) failedBeforeKill.push(`seq ${seq}: 250 without an id: ${outcome.response}`);
          else acked.set(seq, id);
          if (acked.size >= KILL_AFTER_ACKS) kill();
        } else if (killed) {
          unanswered.add(seq);
        } else {
          failedBeforeKill.push(`seq ${seq}: ${outcome.error.message}`);
        }
      }
    } finally {
      connection.close();
    }
  };

  await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => worker(i)));
  await sluice.stop('SIGKILL');
  return { acked, unanswered, failedBeforeKill, inFlightAtKill };
}

function spoolDir(dataDir: string): string {
  return path.join(dataDir, 'spool', 'queue');
}

function spoolFiles(dataDir: string): string[] {
  return readdirSync(spoolDir(dataDir));
}

interface Copy {
  seq: number;
  rcpt: string;
  sluiceId: string | undefined;
  complete: boolean;
}

/** One entry per (delivered message, recipient) as the sink saw it. */
function copiesAt(sink: Sink): Copy[] {
  const copies: Copy[] = [];
  for (const message of sink.messages) {
    const seq = Number(/^X-Test-Seq: (\d+)\r$/m.exec(message.text)?.[1]);
    const complete = message.text.includes(`\r\nEnd of message ${seq}.\r\n`);
    const sluiceId = SLUICE_ID.exec(message.text)?.[1];
    for (const rcpt of message.rcptTo) copies.push({ seq, rcpt, sluiceId, complete });
  }
  return copies;
}

/** Restarts on the same data dir and waits until the spool is empty and the sink quiet. */
async function drain(dataDir: string, sink: Sink): Promise<SluiceProcess> {
  const sluice = await startSluice({
    dataDir,
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'delivery.max_connections_per_destination': MAX_PER_DESTINATION,
      'delivery.retry_schedule': '["500ms"]',
      'delivery.tls': 'none',
    },
  });
  try {
    await waitFor(
      () => spoolFiles(dataDir).filter((name) => SPOOL_FILE.test(name)).length === 0,
      90_000,
      'an empty spool after the restart',
    );
    let last = -1;
    let quiet = 0;
    await waitFor(
      () => {
        quiet = sink.messages.length === last ? quiet + 1 : 0;
        last = sink.messages.length;
        return quiet >= 10;
      },
      30_000,
      'the sink to stop receiving',
    );
  } catch (error) {
    await sluice.stop();
    throw new Error(`${(error as Error).message}\nsluice output (tail):\n${sluice.output().slice(-4000)}`);
  }
  return sluice;
}

interface EventRow {
  type: string;
  message_id: string;
  rcpt_to: string;
}

/**
 * Checks the part both scenarios share and returns the counts: every copy is complete and carries
 * Sluice's id (the acked one for acked messages), every acked recipient arrived, unacked arrivals
 * were in flight at the kill, and every delivered (id, recipient) has injection and delivery events.
 */
async function checkCommon(t: TestContext, dataDir: string, injection: Injection, copies: Copy[]) {
  const { acked, unanswered } = injection;
  const perKey = new Map<string, number>();
  for (const copy of copies) {
    assert.ok(copy.complete, `seq ${copy.seq} to ${copy.rcpt} arrived truncated`);
    assert.ok(copy.sluiceId, `seq ${copy.seq} has no Sluice Received header`);
    const ackedId = acked.get(copy.seq);
    if (ackedId) assert.equal(copy.sluiceId, ackedId, `seq ${copy.seq} arrived under another id`);
    else assert.ok(unanswered.has(copy.seq), `seq ${copy.seq} arrived but was neither acked nor in flight`);
    const key = `${copy.seq} ${copy.rcpt}`;
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
  }
  const lost: string[] = [];
  for (const seq of acked.keys())
    for (const rcpt of recipientsOf(seq)) if (!perKey.has(`${seq} ${rcpt}`)) lost.push(`${seq} ${rcpt}`);
  assert.deepEqual(lost, [], 'acked messages lost');

  // A message whose 250 the kill swallowed was committed whole: it reaches all its recipients.
  const unackedArrived = new Set(copies.filter((c) => !acked.has(c.seq)).map((c) => c.seq));
  for (const seq of unackedArrived)
    for (const rcpt of recipientsOf(seq))
      assert.ok(perKey.has(`${seq} ${rcpt}`), `unacked seq ${seq} reached some recipients, not ${rcpt}`);

  const [injections, deliveries] = await Promise.all([
    searchEvents<EventRow>(dataDir, { type: 'injection' }),
    searchEvents<EventRow>(dataDir, { type: 'delivery' }),
  ]);
  const injected = new Set(injections.map((e) => `${e.message_id} ${e.rcpt_to}`));
  const delivered = new Set(deliveries.map((e) => `${e.message_id} ${e.rcpt_to}`));
  const noInjection: string[] = [];
  const noDelivery: string[] = [];
  for (const copy of copies) {
    const key = `${copy.sluiceId} ${copy.rcpt}`;
    if (!injected.has(key))
      noInjection.push(`seq ${copy.seq} ${key}${acked.has(copy.seq) ? '' : ' (unacked)'}`);
    if (!delivered.has(key)) noDelivery.push(`seq ${copy.seq} ${key}`);
  }
  assert.deepEqual(noDelivery, [], 'delivered copies without a delivery event');
  assert.deepEqual(noInjection, [], 'delivered copies without an injection event');

  const duplicates = [...perKey.values()].reduce((sum, n) => sum + n - 1, 0);
  t.diagnostic(
    `acked ${acked.size}/${TOTAL}, in flight at the kill ${injection.inFlightAtKill}, ` +
      `unanswered ${unanswered.size}, delivered without a 250 ${unackedArrived.size}, ` +
      `copies ${copies.length}, duplicate copies ${duplicates}`,
  );
  return { duplicates, unackedArrived: unackedArrived.size };
}

function checkInjection(injection: Injection): void {
  assert.deepEqual(injection.failedBeforeKill, [], 'sends that failed before the kill');
  assert.ok(injection.inFlightAtKill > 0, 'the kill came while injections were in flight');
  assert.ok(injection.acked.size >= KILL_AFTER_ACKS && injection.acked.size < TOTAL, 'killed mid-way');
}

test('A: kill -9 mid-injection, nothing delivered yet: every acked message arrives exactly once', async (t) => {
  let first: SluiceProcess | undefined;
  let second: SluiceProcess | undefined;
  let sink: Sink | undefined;
  let refuser: net.Server | undefined;
  try {
    // The relayhost hangs up on every connection during injection: each attempt is deferred. (A port
    // held open this way cannot be taken by another test's server meanwhile, as a closed one could.)
    refuser = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => refuser?.listen(0, '127.0.0.1', resolve));
    const refuserPort = (refuser.address() as net.AddressInfo).port;
    first = await startSluice({
      overrides: {
        'delivery.relayhost': `[127.0.0.1]:${refuserPort}`,
        'delivery.retry_schedule': '["500ms"]',
        'delivery.connect_timeout': '2s',
      },
    });
    const { dataDir } = first;
    const injection = await injectAndKill(first);
    checkInjection(injection);

    // Before any restart, the spool holds every acknowledged message.
    const onDisk = new Set(spoolFiles(dataDir));
    const missing = [...injection.acked].filter(([, id]) => !onDisk.has(id)).map(([seq]) => seq);
    assert.deepEqual(missing, [], 'acked messages without a spool file after the kill');
    t.diagnostic(`spool after the kill: ${[...onDisk].filter((n) => SPOOL_FILE.test(n)).length} files`);

    sink = await startSink();
    second = await drain(dataDir, sink);
    const copies = copiesAt(sink);
    const { duplicates } = await checkCommon(t, dataDir, injection, copies);
    assert.equal(duplicates, 0, 'no message arrives twice when none was delivered before the kill');
    assert.deepEqual(spoolFiles(dataDir), [], 'nothing left in the spool, .done files included');
  } finally {
    await first?.stop('SIGKILL');
    await second?.stop();
    await sink?.stop();
    await new Promise((resolve) => (refuser?.listening ? refuser.close(resolve) : resolve(undefined)));
    if (first) rmSync(first.dataDir, { recursive: true, force: true });
  }
});

test('B: kill -9 mid-injection with deliveries in flight: no acked message is lost', async (t) => {
  let first: SluiceProcess | undefined;
  let second: SluiceProcess | undefined;
  let sink: Sink | undefined;
  try {
    sink = await startSink();
    first = await startSluice({
      overrides: {
        'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
        'delivery.max_connections_per_destination': MAX_PER_DESTINATION,
        'delivery.retry_schedule': '["500ms"]',
        'delivery.tls': 'none',
      },
    });
    const { dataDir } = first;
    const injection = await injectAndKill(first);
    checkInjection(injection);
    const deliveredBeforeKill = sink.messages.length;
    t.diagnostic(
      `the sink had ${deliveredBeforeKill} messages after the kill; the spool held ` +
        `${spoolFiles(dataDir).filter((n) => SPOOL_FILE.test(n)).length} files, ` +
        `${spoolFiles(dataDir).filter((n) => n.endsWith('.done')).length} .done`,
    );
    assert.ok(deliveredBeforeKill > 0, 'deliveries were under way when the kill came');

    second = await drain(dataDir, sink);
    const copies = copiesAt(sink);
    const { duplicates } = await checkCommon(t, dataDir, injection, copies);
    assert.ok(
      duplicates <= MAX_PER_DESTINATION,
      `${duplicates} duplicate copies; at most one per outbound connection (${MAX_PER_DESTINATION}) may repeat`,
    );
    assert.deepEqual(spoolFiles(dataDir), [], 'nothing left in the spool, .done files included');
  } finally {
    await first?.stop('SIGKILL');
    await second?.stop();
    await sink?.stop();
    if (first) rmSync(first.dataDir, { recursive: true, force: true });
  }
});
