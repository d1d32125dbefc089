/**
 * Specifies SIGHUP (what `systemctl reload` sends) for the real `sluice serve`, `sluice auth`,
 * `sluice policy` and `sluice milter` processes: each re-reads its --config file and applies what
 * it can to new connections and deliveries — relay.networks refuses a client it allowed, a new TLS
 * certificate is served at the next STARTTLS, log.level quiets the log, the auth service name,
 * a policy action text and the milter's relay networks take effect — while a changed listen
 * address is named in a warning and left as it is, and a file that fails validation is refused
 * with a log line and the old configuration stays. Every SIGHUP and SIGTERM is logged; the
 * process keeps running after a reload.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { decodeResponse, encodeCommand, type MilterResponse, PacketFramer } from '../../src/milter/wire.js';
import { AuthClient } from '../harness/auth-client.js';
import { createKey, swaks } from '../harness/clients.js';
import { freePort, waitFor, waitForPort } from '../harness/net.js';
import { PolicyClient, rcpt } from '../harness/policy-client.js';
import { type SluiceService, startSluiceService } from '../harness/service-process.js';
import { type Sink, startSink } from '../harness/sink.js';
import { sluiceBin } from '../harness/sluice-process.js';

let dir: string;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-reload-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** JSON log lines of a process with this msg. */
function logged(output: string, msg: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.msg === msg);
}

/** Sends SIGHUP and waits for the reload's outcome line (the n-th of its kind). */
async function hangUp(child: { kill(s: NodeJS.Signals): boolean }, output: () => string, outcome: string) {
  const before = logged(output(), outcome).length;
  child.kill('SIGHUP');
  await waitFor(() => logged(output(), outcome).length > before, 15_000, `"${outcome}" after SIGHUP`);
  return logged(output(), outcome).at(-1)!;
}

async function makePair(name: string): Promise<{ cert: string; key: string; fingerprint: string }> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
  } as Parameters<typeof generate>[1]);
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  writeFileSync(cert, pems.cert);
  writeFileSync(key, pems.private);
  return { cert, key, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}

/** EHLO, STARTTLS, handshake: the fingerprint of the certificate the server presents. */
function startTlsFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buffered = '';
    let step = 0;
    socket.setEncoding('utf8');
    const onData = (chunk: string) => {
      buffered += chunk;
      if (!/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(buffered)) return;
      const reply = buffered;
      buffered = '';
      if (step === 0) socket.write('EHLO reload.test\r\n');
      else if (step === 1) socket.write('STARTTLS\r\n');
      else if (step === 2) {
        if (!reply.startsWith('220')) return reject(new Error(`STARTTLS refused: ${reply}`));
        socket.off('data', onData);
        const secure = tls.connect({ socket, rejectUnauthorized: false }, () => {
          resolve(secure.getPeerX509Certificate()!.fingerprint256);
          secure.destroy();
        });
        secure.on('error', reject);
      }
      step++;
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

interface ServeChild {
  child: ChildProcess;
  smtpPort: number;
  submissionPort: number;
  output(): string;
  stop(): Promise<number | null>;
}

/** `sluice serve --config FILE` and nothing else: every option comes from the file, as under systemd. */
async function serveWith(configFile: string, smtpPort: number): Promise<ServeChild> {
  const child = spawn(process.execPath, [sluiceBin, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await Promise.race([
    waitForPort(smtpPort),
    exited.then((code) => {
      throw new Error(`sluice serve exited with ${code}:\n${output}`);
    }),
  ]);
  const submission = /submission: 127\.0\.0\.1:(\d+)/.exec(readFileSync(configFile, 'utf8'));
  return {
    child,
    smtpPort,
    submissionPort: Number(submission![1]),
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return await exited;
    },
  };
}

describe('sluice serve on SIGHUP', () => {
  let sink: Sink;
  let sluice: ServeChild;
  let configFile: string;
  let first: Awaited<ReturnType<typeof makePair>>;
  let second: Awaited<ReturnType<typeof makePair>>;
  const ports = { smtp: 0, submission: 0, http: 0 };

  const writeConfig = (lines: string[]) => writeFileSync(configFile, `${lines.join('\n')}\n`);
  const base = () => [
    `data_dir: ${path.join(dir, 'serve')}`,
    'listen:',
    `  smtp: 127.0.0.1:${ports.smtp}`,
    `  submission: 127.0.0.1:${ports.submission}`,
    `  http: 127.0.0.1:${ports.http}`,
    'delivery:',
    `  relayhost: "[127.0.0.1]:${sink.port}"`,
    '  tls: none',
  ];
  const send = (subject: string) =>
    swaks({
      port: sluice.smtpPort,
      from: 'app@example.com',
      to: ['rcpt@example.net'],
      data: Buffer.from(`From: app@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`),
    });

  before(async () => {
    sink = await startSink();
    first = await makePair('first.reload.test');
    second = await makePair('second.reload.test');
    ports.smtp = await freePort();
    ports.submission = await freePort();
    ports.http = await freePort();
    configFile = path.join(dir, 'serve.yaml');
    writeConfig([...base(), 'tls:', `  cert: ${first.cert}`, `  key: ${first.key}`]);
    sluice = await serveWith(configFile, ports.smtp);
  });

  after(async () => {
    await sluice?.stop();
    await sink?.stop();
  });

  test('relay.networks, the TLS pair and log.level apply; listen changes are named and kept', async () => {
    assert.equal((await send('before reload')).code, 0);
    assert.equal(await startTlsFingerprint(sluice.submissionPort), first.fingerprint);

    const movedPort = await freePort();
    writeConfig([
      ...base().map((line) => line.replace(`smtp: 127.0.0.1:${ports.smtp}`, `smtp: 127.0.0.1:${movedPort}`)),
      'relay:',
      '  networks: [10.0.0.0/8]',
      'tls:',
      `  cert: ${second.cert}`,
      `  key: ${second.key}`,
      'log:',
      '  level: warn',
    ]);
    const reloaded = await hangUp(sluice.child, sluice.output, 'configuration reloaded');
    assert.deepEqual(
      (reloaded.applied as string[]).sort(),
      ['log.level', 'relay.networks', 'tls.cert', 'tls.key'],
      JSON.stringify(reloaded),
    );
    // Logged as it came in, with its signal.
    assert.ok(logged(sluice.output(), 'reloading the configuration').some((l) => l.signal === 'SIGHUP'));
    const kept = logged(
      sluice.output(),
      'changed options that take effect only at the next start: kept as they are until then',
    );
    assert.deepEqual(kept.at(-1)?.options, ['listen.smtp']);

    // 127.0.0.1 is no longer trusted: refused at RCPT; the old port still listens.
    const refused = await send('after reload');
    assert.notEqual(refused.code, 0);
    assert.ok(
      refused.serverLines.some((l) => l.startsWith('554 5.7.1')),
      refused.stdout,
    );
    assert.equal(await startTlsFingerprint(sluice.submissionPort), second.fingerprint);
  });

  test('a file that fails validation is refused with a log line; the running configuration stays', async () => {
    writeConfig([...base(), 'relay:', '  networks: [not-a-network]', 'smtp:', '  no_such_option: 1']);
    const announced = logged(sluice.output(), 'reloading the configuration').length;
    const refused = await hangUp(sluice.child, sluice.output, 'configuration refused: the running one stays');
    // log.level is warn since the first reload: the info line announcing this one is not written.
    assert.equal(logged(sluice.output(), 'reloading the configuration').length, announced);
    const problems = (refused.problems as string[]).join('\n');
    assert.match(problems, /relay\.networks\.0/);
    assert.match(problems, /smtp\.no_such_option: unknown option/);
    // Still the reloaded configuration: 127.0.0.1 refused, second certificate.
    const still = await send('after bad file');
    assert.ok(
      still.serverLines.some((l) => l.startsWith('554 5.7.1')),
      still.stdout,
    );
    assert.equal(await startTlsFingerprint(sluice.submissionPort), second.fingerprint);
    // A certificate file that cannot be read refuses the whole file too.
    writeConfig([...base(), 'tls:', `  cert: ${path.join(dir, 'missing.crt')}`, `  key: ${second.key}`]);
    await hangUp(
      sluice.child,
      sluice.output,
      'configuration refused (a file it names cannot be used): the running one stays',
    );
    assert.ok((await send('after missing cert')).serverLines.some((l) => l.startsWith('554 5.7.1')));
  });

  test('back to the first file: the client is allowed again and gets 250; SIGTERM is logged', async () => {
    writeConfig([...base(), 'tls:', `  cert: ${first.cert}`, `  key: ${first.key}`]);
    await hangUp(sluice.child, sluice.output, 'configuration reloaded');
    const sent = await send('allowed again');
    assert.equal(sent.code, 0, sent.stdout);
    await waitFor(
      () => sink.messages.some((m) => m.text.includes('Subject: allowed again')),
      30_000,
      'delivered',
    );
    assert.equal(await sluice.stop(), 0);
    assert.ok(
      logged(sluice.output(), 'shutting down: no new connections, finishing transactions in flight').some(
        (l) => l.signal === 'SIGTERM',
      ),
    );
  });
});

describe('sluice auth, policy and milter on SIGHUP', () => {
  const services: SluiceService[] = [];
  after(async () => {
    for (const service of services) await service.stop();
  });

  async function start(name: 'auth' | 'policy' | 'milter', lines: string[]) {
    const configFile = path.join(dir, `${name}.yaml`);
    writeFileSync(configFile, `${lines.join('\n')}\n`);
    const service = await startSluiceService(name, { dataDir: path.join(dir, 'services'), configFile });
    services.push(service);
    return {
      service,
      rewrite: (next: string[]) => writeFileSync(configFile, `${next.join('\n')}\n`),
    };
  }

  test('sluice auth: a new auth.service applies to the next connection', async () => {
    const key = await createKey(path.join(dir, 'services'));
    const { service, rewrite } = await start('auth', ['auth:', '  allow_insecure: true']);
    const login = async () => {
      const client = await AuthClient.connect(service.port);
      try {
        return await client.auth({ mechanism: 'PLAIN', user: 'SMTP_Injection', password: key.key });
      } finally {
        await client.close();
      }
    };
    assert.equal((await login()).verdict, 'OK');
    rewrite(['auth:', '  allow_insecure: true', '  service: submission']);
    const reloaded = await hangUp(service.child, service.output, 'configuration reloaded');
    assert.deepEqual(reloaded.applied, ['auth.service']);
    const reply = await login();
    assert.equal(reply.verdict, 'FAIL');
    assert.match(String(reply.params.reason), /service/i);
    rewrite(['auth:', '  allow_insecure: maybe']);
    await hangUp(service.child, service.output, 'configuration refused: the running one stays');
    assert.equal((await login()).verdict, 'FAIL', 'the running configuration stays');
  });

  test('sluice policy: a new action text applies to the next request', async () => {
    const { service, rewrite } = await start('policy', []);
    const ask = async () => {
      const client = await PolicyClient.connect(service.port);
      try {
        return await client.ask(rcpt('reload-1', 'no-such-key'));
      } finally {
        client.end();
      }
    };
    assert.match(await ask(), /^action=REJECT 5\.7\.1 API key not valid/);
    rewrite(['policy:', '  key_rejected_action: "REJECT 5.7.1 reloaded text"']);
    await hangUp(service.child, service.output, 'configuration reloaded');
    assert.equal(await ask(), 'action=REJECT 5.7.1 reloaded text');
  });

  test('sluice milter: relay.networks applies to the next connection', async () => {
    const { service, rewrite } = await start('milter', []);
    const mailReply = async (): Promise<MilterResponse | undefined> => {
      const bytes = Buffer.concat([
        encodeCommand({ kind: 'optneg', version: 6, actions: 0x1ff, protocol: 0x1fffff }),
        encodeCommand({ kind: 'connect', hostname: 'app', family: 'inet', port: 1, address: '127.0.0.1' }),
        encodeCommand({ kind: 'mail', args: ['<app@example.com>'] }),
      ]);
      const got: MilterResponse[] = [];
      await new Promise<void>((resolve, reject) => {
        const framer = new PacketFramer(1 << 20);
        const socket = net.connect(service.port, '127.0.0.1', () => socket.write(bytes));
        socket.on('data', (chunk) => {
          got.push(...framer.push(chunk).packets.map(decodeResponse));
          if (got.length >= 2) {
            socket.destroy();
            resolve();
          }
        });
        socket.on('error', reject);
      });
      return got[1];
    };
    // From relay.networks: an app's injection, processed (continue); from outside: passed (accept).
    assert.equal((await mailReply())?.kind, 'continue');
    rewrite(['relay:', '  networks: [10.0.0.0/8]']);
    await hangUp(service.child, service.output, 'configuration reloaded');
    assert.equal((await mailReply())?.kind, 'accept');
    assert.equal(await service.stop(), 0);
    assert.ok(
      logged(service.output(), 'shutting down: finishing messages in hand').some(
        (l) => l.signal === 'SIGTERM',
      ),
    );
  });
});
