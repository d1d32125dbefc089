/**
 * Starts a real Sendmail (Debian's 8.17 binary, unpacked, not installed: sendmail-bin conflicts
 * with postfix) built from contrib/sendmail/sendmail.mc with m4, listening on a free loopback
 * port, as root, in a scratch directory that holds its queue, aliases, pid and status files.
 *
 * From the contrib file only the addresses change: the milter address (its default
 * inet:8891@127.0.0.1) and, when asked, the commented stage-1 SMART_HOST lines are switched on
 * with the given port. The scratch lines this machine needs are added after DOMAIN(): paths, a
 * fixed $j, the daemon address, no MSA port, no DNS (hosts file only, nocanonify,
 * accept_unresolvable_domains) and TrustStickyBit (the scratch dir sits under /tmp).
 * Sendmail sleeps a minute at start when the host name has no dot, so it runs in its own UTS
 * namespace (unshare --uts) named sendmail.sluice.test. It logs to syslog only (there is none
 * here): tests assert on what peers received, not on its log.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './net.js';
import { onProcessExit } from './postfix.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const SENDMAIL_MC = path.join(repoRoot, 'contrib/sendmail/sendmail.mc');
const CACHE = path.join(repoRoot, '.cache/sendmail');
const ROOT = path.join(CACHE, 'root');
const BINARY = path.join(ROOT, 'usr/libexec/sendmail/sendmail');
const CF_DIR = path.join(ROOT, 'usr/share/sendmail/cf');
const HOSTNAME = 'sendmail.sluice.test';
const DEFAULT_MILTER = 'inet:8891@127.0.0.1';

export interface SendmailOptions {
  /** Port of the milter on 127.0.0.1 (replaces the contrib default); omitted: the default stays. */
  milterPort?: number;
  /** Stage 1: switch on the contrib SMART_HOST lines, pointed at [127.0.0.1]:port. */
  smartHostPort?: number;
}

export interface SendmailInstance {
  dir: string;
  port: number;
  /** The .mc actually built (contrib plus the scratch lines). */
  mc: string;
  /** Files in the queue directory (qf/df pairs): 0 when nothing waits. */
  queueFiles(): string[];
  output(): string;
  stop(): Promise<void>;
}

function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: 120_000, env: { ...process.env, ...env }, maxBuffer: 1 << 24 },
      (e, out, err) =>
        e ? reject(new Error(`${file} ${args.join(' ')}: ${e.message}\n${out}${err}`)) : resolve(out),
    );
  });
}

/** Downloads and unpacks the Debian packages once (test/harness/fetch-sendmail.sh). */
export async function ensureSendmail(): Promise<void> {
  await run('/bin/sh', [path.join(repoRoot, 'test/harness/fetch-sendmail.sh'), CACHE]);
}

/** The contrib .mc with this instance's addresses and scratch lines. */
export function buildMc(dir: string, port: number, options: SendmailOptions): string {
  let mc = readFileSync(SENDMAIL_MC, 'utf8');
  const swap = (from: string, to: string) => {
    if (!mc.includes(from)) throw new Error(`contrib/sendmail/sendmail.mc lacks ${JSON.stringify(from)}`);
    mc = mc.split(from).join(to);
  };
  if (options.milterPort !== undefined) swap(DEFAULT_MILTER, `inet:${options.milterPort}@127.0.0.1`);
  if (options.smartHostPort !== undefined) {
    swap("dnl define(`SMART_HOST'", "define(`SMART_HOST'");
    for (const mailer of ['RELAY', 'ESMTP'])
      swap(
        `dnl define(\`${mailer}_MAILER_ARGS', \`TCP $h 2525')`,
        `define(\`${mailer}_MAILER_ARGS', \`TCP $h ${options.smartHostPort}')`,
      );
  }
  const scratch = [
    `define(\`MAIL_SETTINGS_DIR', \`${dir}/')dnl`,
    `define(\`QUEUE_DIR', \`${dir}/mqueue')dnl`,
    `define(\`ALIAS_FILE', \`${dir}/aliases')dnl`,
    `define(\`STATUS_FILE', \`${dir}/sendmail.st')dnl`,
    `define(\`confPID_FILE', \`${dir}/sendmail.pid')dnl`,
    `define(\`confDOMAIN_NAME', \`${HOSTNAME}')dnl`,
    `define(\`confSERVICE_SWITCH_FILE', \`${dir}/service.switch')dnl`,
    `define(\`confHOSTS_FILE', \`${dir}/hosts')dnl`,
    "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl",
    `DAEMON_OPTIONS(\`Port=${port}, Addr=127.0.0.1, Name=MTA')dnl`,
    "FEATURE(`no_default_msa')dnl",
    "FEATURE(`nocanonify')dnl",
    "FEATURE(`accept_unresolvable_domains')dnl",
  ].join('\n');
  swap("DOMAIN(`generic')dnl\n", `DOMAIN(\`generic')dnl\n${scratch}\n`);
  return mc;
}

export async function startSendmail(options: SendmailOptions = {}): Promise<SendmailInstance> {
  await ensureSendmail();
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-sendmail-'));
  const port = await freePort();
  mkdirSync(path.join(dir, 'mqueue'), { mode: 0o700 });
  writeFileSync(path.join(dir, 'aliases'), '');
  writeFileSync(path.join(dir, 'local-host-names'), '');
  writeFileSync(path.join(dir, 'hosts'), `127.0.0.1 localhost ${HOSTNAME}\n`);
  writeFileSync(path.join(dir, 'service.switch'), 'hosts files\naliases files\n');
  const mc = buildMc(dir, port, options);
  writeFileSync(path.join(dir, 'sendmail.mc'), mc);
  const cf = await run('/usr/bin/m4', [
    `-D_CF_DIR_=${CF_DIR}/`,
    path.join(CF_DIR, 'm4/cf.m4'),
    path.join(dir, 'sendmail.mc'),
  ]);
  const cfFile = path.join(dir, 'sendmail.cf');
  writeFileSync(cfFile, cf);
  const env = { LD_LIBRARY_PATH: path.join(ROOT, 'usr/lib/x86_64-linux-gnu') };
  // A qualified host name spares Sendmail's one-minute wait for a name it cannot qualify.
  const inNamespace = [
    '--uts',
    '/bin/sh',
    '-c',
    `hostname ${HOSTNAME} && exec "$0" "$@"`,
    BINARY,
    '-C',
    cfFile,
  ];
  await run('/usr/bin/unshare', [...inNamespace, '-bi'], env);

  const child: ChildProcess = spawn('/usr/bin/unshare', [...inNamespace, '-bD'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const group = child.pid!;
  // The daemon's per-connection children share its process group: one kill ends them all.
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-group, signal);
    } catch {
      // Already gone.
    }
  };
  const unregister = onProcessExit(() => {
    killGroup('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    await Promise.race([
      waitForPort(port, '127.0.0.1', 30_000),
      exited.then(() => {
        throw new Error(`sendmail exited early:\n${output}`);
      }),
    ]);
  } catch (error) {
    killGroup('SIGKILL');
    unregister();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    port,
    mc,
    queueFiles: () => readdirSync(path.join(dir, 'mqueue')),
    output: () => output,
    async stop() {
      killGroup('SIGTERM');
      const grace = setTimeout(() => killGroup('SIGKILL'), 5_000);
      await exited;
      clearTimeout(grace);
      unregister();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
