/**
 * Starts one of Sluice's stage-0 services (`sluice auth`, `sluice policy`, `sluice milter`) as a
 * real child process, the binary a user runs, listening on a free loopback port against a given
 * data dir. It resolves once the port answers, and fails with the process output if it exits
 * first. stop() sends SIGTERM and resolves with the exit code.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, waitForPort } from './net.js';
import { sluiceBin } from './sluice-process.js';

export type ServiceName = 'auth' | 'policy' | 'milter';

export interface SluiceService {
  child: ChildProcess;
  port: number;
  /** Everything the process wrote so far (JSON log lines). */
  output(): string;
  stop(): Promise<number | null>;
}

export interface ServiceOptions {
  dataDir: string;
  /** A YAML file given with --config; the overrides and the listen address still win. */
  configFile?: string;
  overrides?: Record<string, string | number | boolean>;
  port?: number;
  /** How long to wait for the port to answer (default 15 s; a test starting many at once may need more). */
  readyTimeoutMs?: number;
}

/** The listen option each service reads, in its own syntax. */
const LISTEN: Record<ServiceName, (port: number) => string> = {
  auth: (port) => `auth.listen=127.0.0.1:${port}`,
  policy: (port) => `policy.listen=127.0.0.1:${port}`,
  milter: (port) => `milter.listen=inet:127.0.0.1:${port}`,
};

export async function startSluiceService(name: ServiceName, options: ServiceOptions): Promise<SluiceService> {
  const port = options.port ?? (await freePort());
  const args = [sluiceBin, name];
  if (options.configFile) args.push('--config', options.configFile);
  args.push('-o', `data_dir=${options.dataDir}`, '-o', LISTEN[name](port));
  for (const [key, value] of Object.entries(options.overrides ?? {})) args.push('-o', `${key}=${value}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const early = exited.then((code) => {
    throw new Error(`sluice ${name} exited early with ${code}:\n${output}`);
  });
  early.catch(() => {});
  try {
    await Promise.race([waitForPort(port, '127.0.0.1', options.readyTimeoutMs), early]);
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
