/**
 * Runs Postfix's smtp-sink(1), a real SMTP server that accepts everything and discards it, on
 * 127.0.0.1 and counts the messages it has fully received. Contract: count() is smtp-sink's own `mesg=`
 * counter (-c), which it bumps once the terminating "." of DATA has been read (and the dump file, if
 * any, closed) and right before it sends the 250; waitForCount(n) resolves with the performance.now()
 * instant the counter first reached n, so benchmarks can time "last message at the sink" exactly.
 * With dumpDir, every message is also written to its own file there (slow: for tests, not for benches).
 * stop() kills the process and waits for it; a process exit or ^C kills it too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { freePort, waitForPort } from './net.js';
import { onProcessExit } from './postfix.js';

const SMTP_SINK = '/usr/sbin/smtp-sink';
// smtp-sink refuses to run as root without -u; nobody can still write a dump dir we chown to it.
const UNPRIVILEGED_USER = 'nobody';

export interface SmtpSinkOptions {
  /** 127.0.0.1 port; a free one when omitted. */
  port?: number;
  /** Dump each message into its own file in this directory; `true` makes a scratch dir that stop() removes. */
  dumpDir?: string | true;
  /** listen(2) backlog. */
  backlog?: number;
  /** Extra smtp-sink flags, e.g. ['-r', 'RCPT'] to soft-reject recipients. */
  extraArgs?: string[];
}

export interface SmtpSink {
  port: number;
  pid: number;
  child: ChildProcess;
  dumpDir: string | undefined;
  /** Messages fully received so far. */
  count(): number;
  /** Sessions that have ended so far (including the harness's own readiness probe). */
  sessions(): number;
  /** Resolves with the performance.now() instant the count first reached n; rejects after timeoutMs. */
  waitForCount(n: number, timeoutMs?: number): Promise<number>;
  /** Contents of the dumped messages (empty without dumpDir), oldest file name order not guaranteed. */
  messages(): string[];
  /** What smtp-sink wrote to stderr (warnings, fatal errors). */
  output(): string;
  stop(): Promise<void>;
}

function userId(name: string): { uid: number; gid: number } | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  return undefined;
}

async function startOnce(options: SmtpSinkOptions, port: number): Promise<SmtpSink> {
  const isRoot = process.getuid?.() === 0;
  const owner = isRoot ? userId(UNPRIVILEGED_USER) : undefined;
  if (isRoot && !owner)
    throw new Error(`smtp-sink needs an unprivileged user; no ${UNPRIVILEGED_USER} in /etc/passwd`);
  const scratchDump = options.dumpDir === true;
  let dumpDir: string | undefined;
  if (options.dumpDir === true) dumpDir = mkdtempSync(path.join(tmpdir(), 'sluice-sink-'));
  else if (options.dumpDir) dumpDir = path.resolve(options.dumpDir);
  if (dumpDir) {
    mkdirSync(dumpDir, { recursive: true });
    if (owner) chownSync(dumpDir, owner.uid, owner.gid);
    chmodSync(dumpDir, 0o755);
  }

  const args = ['-c'];
  if (isRoot) args.push('-u', UNPRIVILEGED_USER);
  // The template goes through strftime(3), so a literal % in the path must be doubled.
  if (dumpDir) args.push('-d', `${dumpDir.replaceAll('%', '%%')}/msg.`);
  args.push(...(options.extraArgs ?? []), `127.0.0.1:${port}`, String(options.backlog ?? 1024));
  const child = spawn(SMTP_SINK, args, { stdio: ['ignore', 'pipe', 'pipe'] });

  let messages = 0;
  let sessions = 0;
  // reachedAt[n] = when the counter first showed >= n; the counter can jump several at once.
  const reachedAt: number[] = [0];
  const waiters = new Set<{ n: number; resolve: (at: number) => void; reject: (error: Error) => void }>();
  let pending = '';
  let stderr = '';
  child.stdout?.setEncoding('latin1');
  child.stdout?.on('data', (chunk: string) => {
    const now = performance.now();
    pending += chunk;
    // Records end in \r ("sess=1 quit=1 mesg=1\r"); only the newest complete record matters.
    const end = pending.lastIndexOf('\r');
    if (end < 0) return;
    const record = pending.slice(pending.lastIndexOf('\r', end - 1) + 1, end);
    pending = pending.slice(end + 1);
    const match = /sess=(\d+) quit=\d+ mesg=(\d+)/.exec(record);
    if (!match) return;
    sessions = Number(match[1]);
    const next = Number(match[2]);
    for (let n = messages + 1; n <= next; n++) reachedAt[n] = now;
    if (next > messages) messages = next;
    for (const waiter of waiters) {
      if (messages >= waiter.n) {
        waiters.delete(waiter);
        waiter.resolve(reachedAt[waiter.n] ?? now);
      }
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });

  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping = false;
  const death = () =>
    new Error(
      `smtp-sink ${child.pid} died (${child.exitCode ?? child.signalCode}) after ${messages} messages: ${stderr}`,
    );
  // A sink that dies mid-run would otherwise look like a slow MTA until the timeout.
  void exited.then(() => {
    if (stopping) return;
    for (const waiter of waiters) waiter.reject(death());
    waiters.clear();
  });
  const removeDump = () => {
    if (scratchDump && dumpDir) rmSync(dumpDir, { recursive: true, force: true });
  };
  const unregister = onProcessExit(() => {
    child.kill('SIGKILL');
    removeDump();
  });
  const early = exited.then(() => {
    throw new Error(`smtp-sink exited early (${child.exitCode ?? child.signalCode}): ${stderr}`);
  });
  try {
    await Promise.race([waitForPort(port), early]);
    // Someone else's listener on a recycled port also answers the probe; make sure ours is still alive.
    await new Promise((r) => setTimeout(r, 20));
    if (child.exitCode !== null || child.signalCode !== null) await early;
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    unregister();
    removeDump();
    throw error;
  }
  early.catch(() => {});

  let stopped: Promise<void> | undefined;
  return {
    port,
    pid: child.pid ?? 0,
    child,
    dumpDir,
    count: () => messages,
    sessions: () => sessions,
    waitForCount(n, timeoutMs = 60_000) {
      const at = reachedAt[n];
      if (messages >= n && at !== undefined) return Promise.resolve(at);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(death());
      return new Promise<number>((resolve, reject) => {
        const waiter = {
          n,
          resolve: (instant: number) => {
            clearTimeout(timer);
            resolve(instant);
          },
          reject: (error: Error) => {
            clearTimeout(timer);
            reject(error);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`smtp-sink got ${messages} of ${n} messages in ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    messages() {
      if (!dumpDir) return [];
      const dir = dumpDir;
      return readdirSync(dir)
        .filter((name) => name.startsWith('msg.'))
        .map((name) => readFileSync(path.join(dir, name), 'latin1'));
    },
    output: () => stderr,
    stop() {
      stopped ??= (async () => {
        stopping = true;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        unregister();
        removeDump();
      })();
      return stopped;
    },
  };
}

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  // freePort() hands back a port someone else may grab before smtp-sink binds it; retry on a fresh one.
  const attempts = options.port ? 1 : 3;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      return await startOnce(options, options.port ?? (await freePort()));
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
