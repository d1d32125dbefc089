/**
 * Starts `sluice milter` for the milter benchmark on the transport Postfix will use: `inet`
 * (127.0.0.1, a free port, through the test harness) or `unix` (a socket file in the run's scratch
 * dir, mode 0666 there so Postfix's unprivileged smtpd and cleanup can connect; the scratch dir is
 * private to the bench). Resolves once the milter listens; stop() ends it with SIGTERM.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startSluiceService } from '../test/harness/service-process.js';
import { sluiceBin } from '../test/harness/sluice-process.js';

export type Transport = 'inet' | 'unix';

export interface BenchMilter {
  /** What smtpd_milters names: inet:127.0.0.1:PORT or unix:/path. */
  endpoint: string;
  pid: number | undefined;
  kill(): void;
  output(): string;
  stop(): Promise<unknown>;
}

const OVERRIDES = { 'log.level': 'info' };

/** `socketDir` must be searchable by Postfix's user (the bench's scratch dir, mode 0755). */
export async function startBenchMilter(
  transport: Transport,
  dataDir: string,
  socketDir: string,
  profileDir?: string,
): Promise<BenchMilter> {
  if (transport === 'inet') {
    if (profileDir) throw new Error('--profile needs --transport unix');
    const milter = await startSluiceService('milter', { dataDir, overrides: OVERRIDES });
    return {
      endpoint: `inet:127.0.0.1:${milter.port}`,
      pid: milter.child.pid,
      kill: () => milter.child.kill('SIGKILL'),
      output: milter.output,
      stop: milter.stop,
    };
  }
  const socket = path.join(socketDir, `milter-${path.basename(dataDir)}.sock`);
  const args = [
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    sluiceBin,
    'milter',
    '-o',
    `data_dir=${dataDir}`,
    '-o',
    `milter.listen=unix:${socket}`,
  ];
  args.push('-o', 'milter.socket_mode="0666"');
  for (const [key, value] of Object.entries(OVERRIDES)) args.push('-o', `${key}=${value}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // The "listening" log line is written after the socket file got its mode.
  for (let waited = 0; !output.includes('sluice milter listening'); waited += 50) {
    if (child.exitCode !== null || waited > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`sluice milter did not start on ${socket}:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (!existsSync(socket)) throw new Error(`sluice milter reported listening but ${socket} is missing`);
  return {
    endpoint: `unix:${socket}`,
    pid: child.pid,
    kill: () => child.kill('SIGKILL'),
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return await exited;
    },
  };
}
