/**
 * The life of a long-running subcommand (serve, auth, policy, milter): wait for SIGTERM or SIGINT,
 * log that shutdown starts (and what it will do), stop the service, log that it stopped. SIGHUP
 * (`systemctl reload`) is logged and runs `reload`, one at a time, as often as it comes; without a
 * reload it would kill the process, as it does any Node.js program that does not listen for it.
 */
import type { Logger } from '../log.js';

export async function runUntilSignal(
  log: Logger,
  stop: () => Promise<void>,
  whatShutdownDoes: string,
  reload?: () => Promise<void>,
): Promise<0> {
  let reloads = Promise.resolve();
  const onHangup = () => {
    log.info({ signal: 'SIGHUP' }, 'reloading the configuration');
    // A reloader logs its own outcome; this only keeps a failure from going unseen.
    reloads = reloads
      .then(reload)
      .catch((error: unknown) => log.error({ err: error }, 'reload failed: the running configuration stays'));
  };
  process.on('SIGHUP', onHangup);
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  log.info({ signal }, `shutting down: ${whatShutdownDoes}`);
  await reloads;
  // A SIGHUP now is logged and ignored: the process is on its way out.
  process.off('SIGHUP', onHangup);
  process.on('SIGHUP', () => log.info({ signal: 'SIGHUP' }, 'ignored: shutting down'));
  await stop();
  log.info('stopped');
  log.flush();
  return 0;
}
