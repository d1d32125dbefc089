/**
 * Starts a real `redis-server` (Debian package) for tests and benchmarks: loopback only, a free
 * port, no persistence (`--save '' --appendonly no`) unless a test asks for an fsynced
 * append-only file, a scratch directory, stopped afterwards (also
 * when the test process dies). `kill()` takes it away mid-test and `start()` brings it back on the
 * same port, empty, as a crashed Redis without persistence would come back. Replicas and
 * sentinels are the same binary with other options, for the Sentinel failover test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './net.js';
import { onProcessExit } from './postfix.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisServer {
  port: number;
  url: string;
  /** Everything the server wrote so far. */
  output(): string;
  /** The running server's process id (null while it is stopped): benchmarks read its CPU time. */
  pid(): number | null;
  /** Starts (again) on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops the server and removes its directory. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  port?: number;
  /** Start as a replica of this loopback port. */
  replicaOf?: number;
  /** Start as a sentinel monitoring the master on this loopback port, as `name`. */
  sentinelFor?: { port: number; name: string };
  /**
   * Append-only file fsynced on every write, kept across kill()/start(): a Redis that loses
   * nothing when it crashes, for tests that check nothing is lost end to end.
   */
  persistent?: boolean;
  extraArgs?: string[];
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-redis-'));
  let child: ChildProcess | null = null;
  let output = '';

  const args = (): string[] => {
    if (options.sentinelFor) {
      // A sentinel rewrites its config file, so it gets one of its own.
      const conf = path.join(dir, 'sentinel.conf');
      const { port: master, name } = options.sentinelFor;
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master} 1`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      return [conf, '--sentinel'];
    }
    return [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      options.persistent ? 'yes' : 'no',
      ...(options.persistent ? ['--appendfsync', 'always'] : []),
      '--dir',
      dir,
      ...(options.replicaOf ? ['--replicaof', '127.0.0.1', String(options.replicaOf)] : []),
      ...(options.extraArgs ?? []),
    ];
  };

  const kill = () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const unregister = onProcessExit(() => {
    kill();
    rmSync(dir, { recursive: true, force: true });
  });

  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    output: () => output,
    pid: () => (child && child.exitCode === null && child.signalCode === null ? (child.pid ?? null) : null),
    async start() {
      const proc = spawn(REDIS_SERVER, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      const collect = (chunk: Buffer) => {
        output += chunk.toString();
      };
      proc.stdout?.on('data', collect);
      proc.stderr?.on('data', collect);
      const early = new Promise<never>((_, reject) =>
        proc.once('exit', (code) => reject(new Error(`redis-server exited early with ${code}:\n${output}`))),
      );
      early.catch(() => {});
      await Promise.race([waitForPort(port), early]);
    },
    async kill() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGKILL');
      await gone;
    },
    async stop() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
      unregister();
    },
  };
  await server.start();
  return server;
}
