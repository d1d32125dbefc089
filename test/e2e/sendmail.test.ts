/**
 * Specifies `sluice sendmail` through the wrapper contrib/local-submission/sendmail installs as
 * /usr/sbin/sendmail, driven by the real programs that call sendmail on a host: PHP's mail()
 * (php-cli, sendmail_path), mail(1) from bsd-mailx, a cron-style pipe with cron's options
 * (-FCronDaemon -i -B8BITMIME -oem) and Python's subprocess with -t -i. Each message reaches the
 * sink with its injection and delivery events, the X-MSYS-API header honoured, a Received line
 * "from userid N" and the uid in its events; when the tests run as root the programs run as
 * `nobody`, a local user who is not Sluice's. The exit status is 0 only for a spooled message and
 * 75 when serve is not there (nothing queued). The pickup socket refuses bad input with a clear
 * answer and stays up: no proof of the user, a symlink as proof, a malformed envelope, a
 * truncated body, NUL bytes, an oversized message.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type RunResult, runProgram, searchEvents } from '../harness/clients.js';
import { waitFor } from '../harness/net.js';
import { type Sink, startSink } from '../harness/sink.js';
import { type SluiceProcess, sluiceBin, startSluice } from '../harness/sluice-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const WRAPPER = path.join(repoRoot, 'contrib/local-submission/sendmail');
const HOSTNAME = 'host.sendmail.test';
/** Not Sluice's user: `nobody` when the tests can switch to it. */
const asRoot = process.getuid?.() === 0;
const USER = asRoot ? { uid: 65534, gid: 65534, name: 'nobody' } : null;
const expectedUid = USER ? USER.uid : process.getuid!();

let dir: string;
let sink: Sink;
let sluice: SluiceProcess;
let pickup: string;

before(async () => {
  // Other users must reach the pickup directory: the scratch tree is searchable (as a data_dir
  // made 0711, or pickup.dir under /run/sluice).
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-sendmail-'));
  mkdirSync(path.join(dir, 'data'), { mode: 0o711 });
  chmodSync(dir, 0o711);
  sink = await startSink();
  sluice = await startSluice({
    dataDir: path.join(dir, 'data'),
    overrides: {
      'delivery.relayhost': `[127.0.0.1]:${sink.port}`,
      'delivery.tls': 'none',
      'smtp.hostname': HOSTNAME,
    },
  });
  pickup = path.join(dir, 'data', 'pickup');
});

after(async () => {
  await sluice?.stop();
  await sink?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const env = (extra: NodeJS.ProcessEnv = {}) => ({
  SLUICE: sluiceBin,
  SLUICE_PICKUP_DIR: pickup,
  NODE: process.execPath,
  ...extra,
});

/** Runs a program as the local user (nobody when root), with the wrapper's environment. */
function runAs(
  file: string,
  args: string[],
  input?: string,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<RunResult> {
  const wrapped = USER
    ? ['/usr/bin/setpriv', [`--reuid=${USER.uid}`, `--regid=${USER.gid}`, '--clear-groups', file, ...args]]
    : [file, args];
  return runProgram(wrapped[0] as string, wrapped[1] as string[], {
    ...(input !== undefined ? { input } : {}),
    env: { ...env(extraEnv), HOME: '/nonexistent' },
    timeoutMs: 60_000,
  });
}

async function arrived(subject: string) {
  const message = (await waitFor(
    () => sink.messages.find((m) => m.text.includes(`Subject: ${subject}`)),
    30_000,
    `"${subject}" at the sink`,
  ))!;
  const id = new RegExp(
    `by ${HOSTNAME.replace(/\./g, '\\.')} \\(Sluice, from userid (\\d+)\\)\\r\\n\\tid ([0-9a-f]{20});`,
  ).exec(message.text);
  assert.ok(id, `a Received line naming the user:\n${message.text}`);
  const events = (await waitFor(
    async () => {
      const found = await searchEvents(sluice.dataDir, { messageId: id[2]! });
      return found.some((e) => e.type === 'delivery') ? found : null;
    },
    30_000,
    `delivery event of "${subject}"`,
  ))!;
  return { message, uid: Number(id[1]), id: id[2]!, events };
}

describe('sluice sendmail with the programs that call sendmail', () => {
  test("PHP's mail() with sendmail_path pointing at the wrapper", async () => {
    const script =
      'exit(mail("php@example.net", "from php", "Hello from PHP.", ' +
      '"From: app@example.com\\r\\nX-MSYS-API: {\\"campaign_id\\":\\"php-mail\\",\\"tags\\":[\\"cron\\"]}") ? 0 : 3);';
    const php = await runAs('/usr/bin/php', ['-n', '-d', `sendmail_path=${WRAPPER} -t -i`, '-r', script]);
    assert.equal(php.code, 0, `${php.stdout}${php.stderr}`);
    const { message, uid, events } = await arrived('from php');
    assert.equal(uid, expectedUid);
    assert.deepEqual(message.rcptTo, ['php@example.net']);
    assert.doesNotMatch(message.text, /X-MSYS-API/i, 'taken out');
    assert.match(message.text, /\r\nMessage-ID: </, 'a missing Message-ID is added');
    assert.deepEqual(events.map((e) => e.type).sort(), ['delivery', 'injection']);
    for (const event of events) {
      assert.equal(event.campaign_id, 'php-mail');
      assert.deepEqual(event.rcpt_tags, ['cron']);
      assert.equal(event.local_uid, String(expectedUid));
      assert.equal(event.recv_method, 'local');
      if (USER) assert.equal(event.local_user, USER.name);
    }
  });

  test('mail(1) from bsd-mailx, told to use the wrapper as its sendmail', async () => {
    const rc = path.join(dir, 'mailrc');
    writeFileSync(rc, `set sendmail=${WRAPPER}\n`, { mode: 0o644 });
    const mail = await runAs(
      '/usr/bin/bsd-mailx',
      ['-s', 'from mailx', 'mailx@example.net'],
      'Hello from mail(1).\n',
      {
        MAILRC: rc,
      },
    );
    assert.equal(mail.code, 0, `${mail.stdout}${mail.stderr}`);
    const { message, uid } = await arrived('from mailx');
    assert.equal(uid, expectedUid);
    assert.deepEqual(message.rcptTo, ['mailx@example.net']);
    // No -f: the envelope sender is the user at the host name, as Postfix's pickup makes it.
    assert.equal(message.mailFrom, `${USER?.name ?? 'root'}@${HOSTNAME}`);
    assert.match(message.text, /Hello from mail\(1\)\./);
  });

  test("a cron-style pipe, with cron's options and an unqualified recipient", async () => {
    const output = [
      'From: root (Cron Daemon)',
      'To: root',
      'Subject: Cron <root@host> run-parts /etc/cron.daily',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      '',
      'job output line 1',
      '.',
      'after a lone dot: still the message with -i',
    ].join('\n');
    const cron = await runProgram(
      '/bin/sh',
      ['-c', `printf '%s\\n' "$OUTPUT" | ${WRAPPER} -FCronDaemon -i -B8BITMIME -oem root`],
      {
        env: { ...env(), OUTPUT: output },
      },
    );
    assert.equal(cron.code, 0, cron.stderr);
    const { message, uid } = await arrived('Cron <root@host>');
    assert.equal(uid, process.getuid!());
    assert.deepEqual(message.rcptTo, [`root@${HOSTNAME}`], 'qualified with the host name');
    assert.match(message.text, /after a lone dot: still the message with -i/);
  });

  test("Python's subprocess with -t -i: recipients from the header, Bcc removed", async () => {
    const code = [
      'import subprocess, sys',
      'msg = "From: py@example.com\\nTo: one@example.net\\nCc: Two <two@example.net>\\nBcc: three@example.net\\nSubject: from python\\n\\nbody\\n"',
      `r = subprocess.run(["${WRAPPER}", "-t", "-i"], input=msg.encode())`,
      'sys.exit(r.returncode)',
    ].join('\n');
    const python = await runAs('/usr/bin/python3', ['-c', code]);
    assert.equal(python.code, 0, `${python.stdout}${python.stderr}`);
    const { message, events } = await arrived('from python');
    assert.deepEqual(message.rcptTo.sort(), ['one@example.net', 'three@example.net', 'two@example.net']);
    assert.doesNotMatch(message.text, /^Bcc:/im, 'Bcc is not delivered');
    assert.equal(events.filter((e) => e.type === 'injection').length, 3);
  });
});

describe('sluice sendmail when serve cannot take the message', () => {
  test('no serve on the pickup directory: exit 75, nothing queued, no proof file left', async () => {
    const empty = path.join(dir, 'no-serve');
    mkdirSync(empty);
    chmodSync(empty, 0o1777);
    const before = sink.messages.length;
    const result = await runAs(WRAPPER, ['-i', 'x@example.net'], 'Subject: nobody home\n\nbody\n', {
      SLUICE_PICKUP_DIR: empty,
    });
    assert.equal(result.code, 75, result.stderr);
    assert.match(result.stderr, /no sluice serve is listening/);
    assert.deepEqual(readdirSync(empty), [], 'the proof file is gone');
    const missing = await runAs(WRAPPER, ['-i', 'x@example.net'], 'Subject: x\n\nbody\n', {
      SLUICE_PICKUP_DIR: path.join(dir, 'does-not-exist'),
    });
    assert.equal(missing.code, 75, missing.stderr);
    assert.equal(sink.messages.length, before);
  });

  test('usage errors and refused modes exit 64 with a message; -bi does nothing and succeeds', async () => {
    for (const [args, pattern] of [
      [['-bs'], /-bs \(SMTP on standard input\) is not supported/],
      [['-bd'], /daemon mode/],
      [[], /recipient addresses must be given/],
      [['-N', 'never', 'a@example.net'], /per-message DSN/],
      [['-Y', 'a@example.net'], /unknown option -Y/],
    ] as Array<[string[], RegExp]>) {
      const result = await runProgram(WRAPPER, args, { env: env(), input: '' });
      assert.equal(result.code, 64, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, pattern);
    }
    const newaliases = await runProgram(WRAPPER, ['-bi'], { env: env() });
    assert.equal(newaliases.code, 0);
    assert.match(newaliases.stderr, /no aliases/);
  });

  test('a permanent refusal (NUL bytes) exits 65 and says why', async () => {
    const result = await runProgram(WRAPPER, ['-i', 'x@example.net'], {
      env: env(),
      input: 'Subject: nul\n\nbad \u0000 byte\n',
    });
    assert.equal(result.code, 65, result.stderr);
    assert.match(result.stderr, /550 5\.6\.0 Message contains NUL characters/);
  });
});

describe('the pickup socket on bad input', () => {
  function post(
    headers: Record<string, string>,
    body: Buffer | string,
    endEarly = false,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const request = http.request(
        { socketPath: path.join(pickup, 'pickup.sock'), method: 'POST', path: '/v1/submit', headers },
        (response) => {
          let text = '';
          response.on('data', (chunk) => {
            text += chunk;
          });
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        },
      );
      request.on('error', (error) =>
        endEarly ? resolve({ status: 0, body: error.message }) : reject(error),
      );
      if (endEarly) {
        request.write(body);
        setTimeout(() => request.destroy(), 50);
      } else request.end(body);
    });
  }
  const envelope = `${JSON.stringify({ sender: null, recipients: ['x@example.net'], extract: false, full_name: null })}\n`;
  /** A proof file the test process owns (root or not: then its own uid). */
  const proof = () => {
    const name = `proof-${Math.random().toString(36).slice(2)}${'a'.repeat(20)}`;
    writeFileSync(path.join(pickup, name), '', { mode: 0o600 });
    return name;
  };

  test('no proof, a made-up proof, a symlink as proof: refused; the next good one is accepted', async () => {
    const none = await post({}, `${envelope}Subject: x\r\n\r\nbody\r\n`);
    assert.equal(none.status, 400);
    assert.match(none.body, /No proof of the submitting local user/);
    const madeUp = await post(
      { 'x-sluice-proof': `proof-${'b'.repeat(30)}` },
      `${envelope}Subject: x\r\n\r\nb\r\n`,
    );
    assert.match(madeUp.body, /No proof/);
    // A link to a file another user owns must not make the sender that user.
    const link = `proof-${'c'.repeat(30)}`;
    symlinkSync('/etc/passwd', path.join(pickup, link));
    const linked = await post({ 'x-sluice-proof': link }, `${envelope}Subject: x\r\n\r\nb\r\n`);
    assert.match(linked.body, /No proof/);
    const good = await post({ 'x-sluice-proof': proof() }, `${envelope}Subject: good after bad\r\n\r\nb\r\n`);
    assert.equal(good.status, 200, good.body);
    assert.match(JSON.parse(good.body).id, /^[0-9a-f]{20}$/);
  });

  test('malformed envelopes, binary garbage and a truncated body get clear answers; serve stays up', async () => {
    for (const [body, pattern] of [
      ['no newline at all', /expected an envelope line first/],
      ['{not json}\nmessage', /not JSON/],
      ['[1,2]\nmessage', /not an object/],
      ['{"sender":1,"recipients":[],"extract":false,"full_name":null}\nm', /sender must be/],
      ['{"sender":null,"recipients":"x","extract":false,"full_name":null}\nm', /recipients must be/],
      [Buffer.from([0xff, 0xfe, 0x00, 0x0a, 0x01]), /not JSON/],
    ] as Array<[string | Buffer, RegExp]>) {
      const answer = await post({ 'x-sluice-proof': proof() }, body);
      assert.equal(answer.status, 400, answer.body);
      assert.match(answer.body, pattern);
    }
    await post({ 'x-sluice-proof': proof(), 'content-length': '100000' }, `${envelope}Subject: cut`, true);
    const after = await post({ 'x-sluice-proof': proof() }, `${envelope}Subject: still up\r\n\r\nb\r\n`);
    assert.equal(after.status, 200, after.body);
    assert.equal(sluice.child.exitCode, null);
  });

  test('an oversized message is refused with 552 5.3.4', async () => {
    const big = Buffer.alloc(26_214_400 + 70_000, 0x61);
    const answer = await post({ 'x-sluice-proof': proof() }, Buffer.concat([Buffer.from(envelope), big]));
    assert.equal(answer.status, 413);
    assert.match(answer.body, /"code":552/);
  });
});
