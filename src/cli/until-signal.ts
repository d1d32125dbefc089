/**
 * The life of a long-running subcommand (serve, auth, policy, milter): wait for SIGTERM or SIGINT,
 * log that shutdown starts (and what it will do), stop the service, log that it stopped.
 */
import type { Logger } from '../log.js';

export async function runUntilSignal(
  log: Logger,
  stop: () => Promise<void>,
  whatShutdownDoes: string,
): Promise<0> {
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, `shutting down: ${whatShutdownDoes}`);
  await stop();
  log.info('stopped');
  log.flush();
  return 0;
}
