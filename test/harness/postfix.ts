/**
 * Starts and stops a real, throw-away Postfix instance (the Debian package's binaries) for tests and
 * benchmarks. Contract: every instance lives in its own mkdtemp directory (config, queue, data dir, log),
 * listens only on 127.0.0.1:<port>, never touches /etc/postfix or the system queue, and refuses to send
 * mail anywhere except `relayhost` (without one, every delivery fails with a local error). stop() waits
 * until every process of the instance is gone and deletes the directory. Needs root: Postfix's master
 * does, and as root `postfix -c DIR` accepts any config directory without it being listed in a default
 * main.cf (that check only applies to unprivileged callers), so no system file is edited.
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitFor, waitForPort } from './net.js';

const POSTFIX = '/usr/sbin/postfix';
const POSTQUEUE = '/usr/sbin/postqueue';
const POSTCONF = '/usr/sbin/postconf';
// Package-owned pristine copies first: /etc/postfix/master.cf may carry a local admin's edits.
const MASTER_CF_SOURCES = [
  '/usr/share/postfix/master.cf.dist',
  '/etc/postfix/master.cf.proto',
  '/etc/postfix/master.cf',
];
// What Debian's postinst puts at the top of a fresh main.cf; using it keeps the instance "Debian default".
const DEBIAN_MAIN_CF = '/usr/share/postfix/main.cf.debian';
// The queues that hold messages; the others (bounce, defer, trace, flush...) hold logs about them.
const MESSAGE_QUEUES = ['maildrop', 'incoming', 'active', 'deferred', 'hold'];
const COMMAND_TIMEOUT_MS = 60_000;

export interface PostfixOptions {
  /** 127.0.0.1 port for smtpd; a free one when omitted. */
  smtpPort?: number;
  /** Where mail goes, e.g. `[127.0.0.1]:2525`. Without it the instance delivers nothing (error transport). */
  relayhost?: string;
  mynetworks?: string;
  /** Applied last, so they win over every setting the harness writes. */
  extraMainCf?: Record<string, string>;
  /** Appended verbatim to master.cf. */
  extraMasterCf?: string[];
  /** Parent of the scratch directory (default: the OS temp dir). Benchmarks pick the disk with this. */
  baseDir?: string;
}

export interface PostfixInstance {
  /** Scratch root; removed by stop(). */
  dir: string;
  configDir: string;
  queueDir: string;
  dataDir: string;
  port: number;
  logFile: string;
  /** The master daemon; also the process group of every Postfix process of this instance. */
  masterPid: number;
  /** Runs `postqueue -c configDir ...args` and returns its stdout (throws on a non-zero exit). */
  postqueue(args: string[]): Promise<string>;
  /** Messages currently in the queue, counted from the queue directories (cheap, no daemon involved). */
  queueSize(): number;
  /** Resolves once no message is left in any queue. */
  waitForEmptyQueue(timeoutMs?: number): Promise<void>;
  /** The instance's maillog so far. */
  log(): string;
  stop(): Promise<void>;
}

/** Cleanups that must run even when a test or the bench dies half-way, so no daemon outlives us. */
const exitCleanups = new Set<() => void>();
let exitHooksInstalled = false;

/**
 * Registers a synchronous last-resort cleanup for process exit and SIGINT/SIGTERM/SIGHUP; returns the
 * unregister function. Normal code paths still stop things themselves; this only covers crashes and ^C.
 */
export function onProcessExit(cleanup: () => void): () => void {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    const runAll = () => {
      // Newest first, like nested finally blocks: a daemon dies before the directory it writes to goes.
      for (const fn of [...exitCleanups].reverse()) {
        exitCleanups.delete(fn);
        try {
          fn();
        } catch {
          // Best effort: one failing cleanup must not keep the others from running.
        }
      }
    };
    process.on('exit', runAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(signal, () => {
        runAll();
        // Re-raise so the process still dies of the signal, as it would have without us.
        process.kill(process.pid, signal);
      });
    }
  }
  exitCleanups.add(cleanup);
  return () => exitCleanups.delete(cleanup);
}

function run(
  file: string,
  args: string[],
  env?: NodeJS.ProcessEnv,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        timeout: COMMAND_TIMEOUT_MS,
        env: { ...process.env, LANG: 'C', ...env },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${file} ${args.join(' ')} failed: ${error.message}\n${stdout}${stderr}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

function userId(name: string): { uid: number; gid: number } {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new Error(`no user ${name} in /etc/passwd (is the postfix package installed?)`);
}

/** `key = value` settings of a main.cf-style file, continuation lines folded in. */
function parseMainCf(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    if (/^\s/.test(line) && last) {
      settings.set(last, `${settings.get(last)} ${line.trim()}`);
      continue;
    }
    const match = /^([A-Za-z0-9_]+)\s*=\s*(.*)$/.exec(line);
    if (match?.[1] !== undefined) {
      last = match[1];
      settings.set(last, (match[2] ?? '').trim());
    }
  }
  return settings;
}

async function compatibilityLevel(): Promise<string> {
  // Debian's own choice; otherwise the installed major.minor, which every version accepts.
  if (existsSync(DEBIAN_MAIN_CF)) {
    const level = parseMainCf(readFileSync(DEBIAN_MAIN_CF, 'utf8')).get('compatibility_level');
    if (level) return level;
  }
  const { stdout } = await run(POSTCONF, ['-d', '-h', 'mail_version']);
  return stdout.trim().split('.').slice(0, 2).join('.');
}

/**
 * The package's master.cf with chroot turned off everywhere (a chroot would need copies of /etc files
 * in every scratch queue) and the public smtpd moved to 127.0.0.1:<port>.
 */
function masterCf(port: number, extra: string[]): string {
  const source = MASTER_CF_SOURCES.find((file) => existsSync(file));
  if (!source) throw new Error(`no master.cf template found (looked at ${MASTER_CF_SOURCES.join(', ')})`);
  let smtpdSeen = false;
  const lines = readFileSync(source, 'utf8')
    .split('\n')
    .map((line) => {
      if (/^\s|^#|^$/.test(line)) return line;
      const fields = line.split(/\s+/);
      if (fields.length < 8) return line;
      fields[4] = 'n';
      if (fields[0] === 'smtp' && fields[1] === 'inet') {
        fields[0] = `127.0.0.1:${port}`;
        smtpdSeen = true;
      }
      return fields.join(' ');
    });
  if (!smtpdSeen) throw new Error(`${source} has no "smtp inet" service to move to port ${port}`);
  return `${lines.join('\n')}\n${extra.join('\n')}\n`;
}

function countFiles(dir: string): number {
  let count = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) count += countFiles(path.join(dir, entry.name));
    else count++;
  }
  return count;
}

/** Process group and state of a pid from /proc, or undefined when it no longer exists. */
function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses; the fields after the last ')' are fixed.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0] ?? '?', pgrp: Number(rest[2]) };
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) processes in a process group; the master setsid()s, so that is the instance. */
function liveInGroup(pgrp: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat && stat.pgrp === pgrp && stat.state !== 'Z' && stat.state !== 'X') pids.push(Number(name));
  }
  return pids;
}

function killGroup(pgrp: number): void {
  try {
    process.kill(-pgrp, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Fails early, with a readable message, where master would only log "Permission denied" on its lock file. */
function assertSearchable(dir: string): void {
  for (let current = dir; ; current = path.dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) {
      throw new Error(
        `${current} is not searchable by others, so the postfix user cannot reach ${dir} (chmod o+x it)`,
      );
    }
    if (path.dirname(current) === current) return;
  }
}

async function startOnce(options: PostfixOptions, port: number): Promise<PostfixInstance> {
  const baseDir = path.resolve(options.baseDir ?? tmpdir());
  assertSearchable(baseDir);
  const dir = mkdtempSync(path.join(baseDir, 'sluice-postfix-'));
  // Daemons run as the postfix user and open absolute paths under here (data_directory, the log).
  chmodSync(dir, 0o755);
  const configDir = path.join(dir, 'etc');
  const queueDir = path.join(dir, 'spool');
  const dataDir = path.join(dir, 'data');
  const logFile = path.join(dir, 'maillog');
  for (const sub of [configDir, queueDir, dataDir]) mkdirSync(sub, { mode: 0o755 });
  const postfixUser = userId('postfix');
  chownSync(dataDir, postfixUser.uid, postfixUser.gid);

  const settings = new Map<string, string>();
  if (existsSync(DEBIAN_MAIN_CF))
    for (const [k, v] of parseMainCf(readFileSync(DEBIAN_MAIN_CF, 'utf8'))) settings.set(k, v);
  const relay: Record<string, string> = {
    compatibility_level: await compatibilityLevel(),
    queue_directory: queueDir,
    data_directory: dataDir,
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    myhostname: 'sluice-test.localdomain',
    // Empty: nothing is local, so every recipient is relayed (no aliases, no local(8) delivery).
    mydestination: '',
    alias_maps: '',
    alias_database: '',
    mynetworks: options.mynetworks ?? '127.0.0.0/8',
    relayhost: options.relayhost ?? '',
    // No syslog in containers: postlogd writes this file, and postfix(1) itself writes it before that.
    maillog_file: logFile,
    maillog_file_prefixes: dir,
  };
  // Safety net: without a relayhost the smtp client would look up real MX hosts on the internet.
  if (!options.relayhost) relay['default_transport'] = 'error:sluice test harness: no relayhost configured';
  for (const [k, v] of Object.entries(relay)) settings.set(k, v);
  for (const [k, v] of Object.entries(options.extraMainCf ?? {})) settings.set(k, v);
  const mainCf = [...settings].map(([k, v]) => `${k} = ${v}`).join('\n');
  writeFileSync(
    path.join(configDir, 'main.cf'),
    `# Scratch instance written by test/harness/postfix.ts\n${mainCf}\n`,
  );
  writeFileSync(path.join(configDir, 'master.cf'), masterCf(port, options.extraMasterCf ?? []));

  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  let masterPid = 0;
  const unregister = onProcessExit(() => {
    if (masterPid) killGroup(masterPid);
    removeDir();
  });
  try {
    await run(POSTFIX, ['-c', configDir, 'start']);
    masterPid = Number(readFileSync(path.join(queueDir, 'pid', 'master.pid'), 'utf8').trim());
    if (!Number.isInteger(masterPid) || masterPid <= 1) throw new Error(`bad master pid in ${queueDir}/pid`);
    await waitForPort(port);
  } catch (error) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '(no maillog)';
    if (masterPid) killGroup(masterPid);
    unregister();
    removeDir();
    throw new Error(`scratch Postfix did not start: ${(error as Error).message}\nmaillog:\n${log}`);
  }

  let stopped: Promise<void> | undefined;
  const instance: PostfixInstance = {
    dir,
    configDir,
    queueDir,
    dataDir,
    port,
    logFile,
    masterPid,
    async postqueue(args) {
      return (await run(POSTQUEUE, ['-c', configDir, ...args])).stdout;
    },
    queueSize() {
      return MESSAGE_QUEUES.reduce((sum, queue) => sum + countFiles(path.join(queueDir, queue)), 0);
    },
    async waitForEmptyQueue(timeoutMs = 60_000) {
      await waitFor(() => instance.queueSize() === 0, timeoutMs, `empty queue in ${queueDir}`);
    },
    log() {
      return existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    },
    stop() {
      stopped ??= (async () => {
        try {
          // postfix-script's stop: SIGTERM to master, up to 5 s grace, then SIGKILL to the group.
          await run(POSTFIX, ['-c', configDir, 'stop']).catch(() => killGroup(masterPid));
          try {
            await waitFor(() => liveInGroup(masterPid).length === 0, 10_000, `Postfix ${masterPid} to exit`);
          } catch {
            killGroup(masterPid);
            await waitFor(() => liveInGroup(masterPid).length === 0, 5_000, `Postfix ${masterPid} to die`);
          }
        } finally {
          unregister();
          removeDir();
        }
      })();
      return stopped;
    },
  };
  return instance;
}

export async function startPostfix(options: PostfixOptions = {}): Promise<PostfixInstance> {
  if (process.getuid?.() !== 0) throw new Error('a scratch Postfix needs root (its master daemon does)');
  // A port from freePort() can be taken by someone else before master binds it; retry on a fresh one.
  const attempts = options.smtpPort ? 1 : 3;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await startOnce(options, options.smtpPort ?? (await freePort()));
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
