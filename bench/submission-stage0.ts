/**
 * The submission bench's two systems, started fresh for every run on one TLS pair (EC P-256,
 * the kind Sluice generates) and one key store per run, each relaying to the given smtp-sink:
 * - stage 2: `sluice serve` alone; apps use its submission listener (STARTTLS, AUTH with a key);
 * - stage 0: a scratch Postfix configured with the lines of contrib/postfix/main.cf.stage0
 *   themselves (only the service addresses pointed at free ports), with `sluice auth`, `sluice
 *   policy` and `sluice milter` as real processes on one data dir; apps use Postfix's smtpd.
 * Every Sluice process logs at warn. cpuMs() is the user+system CPU of every process of the
 * system so far (Postfix: its whole process group, reaped processes included).
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../src/config/schema.js';
import { loadTlsPair } from '../src/tls/certificate.js';
import { createKey } from '../test/harness/clients.js';
import { waitFor } from '../test/harness/net.js';
import { onProcessExit, startPostfix } from '../test/harness/postfix.js';
import { type SluiceService, startSluiceService } from '../test/harness/service-process.js';
import { startSluice } from '../test/harness/sluice-process.js';
import { groupCpuMs, processCpuMs } from './proc-cpu.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const STAGE0 = path.join(repoRoot, 'contrib/postfix/main.cf.stage0');
const QUIET = { 'log.level': 'warn' };

export interface SubmissionSystem {
  /** Where apps connect: STARTTLS, then AUTH PLAIN as SMTP_Injection with `key`. */
  port: number;
  key: string;
  cpuMs(): number;
  /** Resolves once nothing is left in the system's queue. */
  drained(timeoutMs: number): Promise<void>;
  /** The tail of the logs, for an error message. */
  logTail(): string;
  stop(): Promise<void>;
}

/** A self-signed pair in dir/tls; returns the file names. */
export async function tlsFiles(dir: string): Promise<{ cert: string; key: string }> {
  await loadTlsPair({ cert: null, key: null }, dir, 'sluice-bench.localdomain');
  return { cert: path.join(dir, 'tls/cert.pem'), key: path.join(dir, 'tls/key.pem') };
}

export async function startStage2(
  scratch: string,
  tls: { cert: string; key: string },
  sinkPort: number,
  profileDir?: string,
): Promise<SubmissionSystem> {
  const dataDir = mkdtempSync(path.join(scratch, 'stage2-'));
  const key = (await createKey(dataDir, { label: 'bench app' })).key;
  const sluice = await startSluice({
    dataDir,
    overrides: {
      ...QUIET,
      'delivery.relayhost': `[127.0.0.1]:${sinkPort}`,
      'tls.cert': tls.cert,
      'tls.key': tls.key,
    },
    ...(profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
  });
  const unregister = onProcessExit(() => sluice.child.kill('SIGKILL'));
  const pid = sluice.child.pid!;
  // The SMTP ports answer before the HTTP listener is up; /readyz says 200 once all is.
  await waitFor(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${sluice.httpPort}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    60_000,
    'sluice serve to be ready',
  );
  return {
    port: sluice.submissionPort,
    key,
    cpuMs: () => processCpuMs(pid),
    drained: (timeoutMs) =>
      waitFor(
        () => readdirSync(path.join(dataDir, 'spool', 'queue')).length === 0,
        timeoutMs,
        'an empty spool',
      ).then(() => undefined),
    logTail: () => sluice.output().slice(-4000),
    async stop() {
      const timer = setTimeout(() => sluice.child.kill('SIGKILL'), 30_000);
      await sluice.stop();
      clearTimeout(timer);
      unregister();
    },
  };
}

/** `name = value` settings of a main.cf excerpt, continuation lines folded in, comments skipped. */
function parseMainCf(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    if (/^\s/.test(line) && last !== undefined) {
      settings.set(last, `${settings.get(last)} ${line.trim()}`.trim());
      continue;
    }
    const match = /^([a-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (!match) throw new Error(`not a main.cf line in ${STAGE0}: ${line}`);
    last = match[1]!;
    settings.set(last, match[2]!.trim());
  }
  return settings;
}

export async function startStage0(
  scratch: string,
  tls: { cert: string; key: string },
  sinkPort: number,
): Promise<SubmissionSystem> {
  const dataDir = mkdtempSync(path.join(scratch, 'stage0-'));
  const key = (await createKey(dataDir, { label: 'bench app' })).key;
  const services: SluiceService[] = [];
  const unregister = onProcessExit(() => {
    for (const service of services) service.child.kill('SIGKILL');
  });
  const stopServices = async () => {
    await Promise.all(services.map((service) => service.stop()));
    unregister();
  };
  try {
    for (const name of ['auth', 'policy', 'milter'] as const)
      services.push(await startSluiceService(name, { dataDir, overrides: QUIET }));
  } catch (error) {
    await stopServices();
    throw error;
  }
  const [auth, policy, milter] = services as [SluiceService, SluiceService, SluiceService];
  // The documented lines as an admin pastes them; only the three service addresses change.
  const defaults = configSchema.parse({});
  const authAt = `inet:${defaults.auth.listen}`;
  const policyAt = `inet:${defaults.policy.listen}`;
  const milterAt = defaults.milter.listen!;
  const settings: Record<string, string> = {};
  for (const [name, value] of parseMainCf(readFileSync(STAGE0, 'utf8')))
    settings[name] = value
      .replaceAll(authAt, `inet:127.0.0.1:${auth.port}`)
      .replaceAll(policyAt, `inet:127.0.0.1:${policy.port}`)
      .replaceAll(milterAt, `inet:127.0.0.1:${milter.port}`);
  let postfix: Awaited<ReturnType<typeof startPostfix>>;
  try {
    postfix = await startPostfix({
      relayhost: `[127.0.0.1]:${sinkPort}`,
      baseDir: scratch,
      extraMainCf: {
        myhostname: 'sluice-bench.localdomain',
        ...settings,
        // What main.cf.stage0 leaves to the site: this host's certificate.
        smtpd_tls_cert_file: tls.cert,
        smtpd_tls_key_file: tls.key,
      },
    });
  } catch (error) {
    await stopServices();
    throw error;
  }
  const pids = services.map((service) => service.child.pid!);
  return {
    port: postfix.port,
    key,
    cpuMs: () => groupCpuMs(postfix.masterPid) + pids.reduce((sum, pid) => sum + processCpuMs(pid), 0),
    drained: (timeoutMs) => postfix.waitForEmptyQueue(timeoutMs),
    logTail: () =>
      `Postfix maillog tail:\n${postfix.log().split('\n').slice(-20).join('\n')}\n` +
      services.map((service) => service.output().slice(-1500)).join('\n'),
    async stop() {
      await postfix.stop();
      await stopServices();
    },
  };
}
