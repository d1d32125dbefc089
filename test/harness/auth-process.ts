/**
 * Starts a real `sluice auth` child process (the binary a user runs) on a free loopback port
 * against a given data dir, for tests and bench/auth. stop() sends SIGTERM and waits for the exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, waitForPort } from './net.js';
import { sluiceBin } from './sluice-process.js';

export interface SluiceAuthProcess {
  child: ChildProcess;
  port: number;
  /** Everything the process wrote so far (JSON log lines). */
  output(): string;
  stop(): Promise<number | null>;
}

export async function startSluiceAuth(
  dataDir: string,
  overrides: Record<string, string | number | boolean> = {},
): Promise<SluiceAuthProcess> {
  const port = await freePort();
  const args = [sluiceBin, 'auth', '-o', `data_dir=${dataDir}`, '-o', `auth.listen=127.0.0.1:${port}`];
  for (const [key, value] of Object.entries(overrides)) args.push('-o', `${key}=${value}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const early = exited.then((code) => {
    throw new Error(`sluice auth exited early with ${code}:\n${output}`);
  });
  early.catch(() => {});
  try {
    await Promise.race([waitForPort(port), early]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    child,
    port,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return await exited;
    },
  };
}
