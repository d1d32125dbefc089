/**
 * Starts a real `sluice serve` child process on free loopback ports with a scratch data dir,
 * for end-to-end tests and benchmarks. The process is the same binary a user runs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitForPort } from './net.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const sluiceBin = path.join(repoRoot, 'bin/sluice.js');

export interface SluiceProcess {
  child: ChildProcess;
  dataDir: string;
  smtpPort: number;
  submissionPort: number;
  httpPort: number;
  /** Everything the process wrote to stdout/stderr so far (JSON log lines). */
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  dataDir?: string;
  /** Extra `-o key=value` overrides. */
  overrides?: Record<string, string | number | boolean>;
  ports?: { smtp?: number; submission?: number; http?: number };
  env?: NodeJS.ProcessEnv;
  /** A YAML config file (--config), for what -o cannot say (keys with dots, such as domains). */
  configFile?: string;
  /** Options for node itself, before the script (e.g. --cpu-prof for benchmarks). */
  nodeArgs?: string[];
}

export async function startSluice(options: StartOptions = {}): Promise<SluiceProcess> {
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'sluice-test-'));
  const smtpPort = options.ports?.smtp ?? (await freePort());
  const submissionPort = options.ports?.submission ?? (await freePort());
  const httpPort = options.ports?.http ?? (await freePort());
  const overrides: Record<string, string | number | boolean> = {
    data_dir: dataDir,
    'listen.smtp': `127.0.0.1:${smtpPort}`,
    'listen.submission': `127.0.0.1:${submissionPort}`,
    'listen.http': `127.0.0.1:${httpPort}`,
    'log.level': 'info',
    ...options.overrides,
  };
  const args = [...(options.nodeArgs ?? []), sluiceBin, 'serve'];
  if (options.configFile) args.push('--config', options.configFile);
  for (const [key, value] of Object.entries(overrides)) args.push('-o', `${key}=${value}`);
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const early = exited.then((code) => {
    throw new Error(`sluice exited early with ${code}:\n${output}`);
  });
  await Promise.race([waitForPort(smtpPort), early]);
  early.catch(() => {});
  return {
    child,
    dataDir,
    smtpPort,
    submissionPort,
    httpPort,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return await exited;
    },
  };
}
