/**
 * `sluice serve`: run the MTA until SIGTERM or SIGINT, then shut down cleanly. SIGHUP reloads the
 * configuration (serve-reload.ts says what applies without a restart).
 */
import { createLogger } from '../log.js';
import { SERVE_RELOAD } from '../serve-reload.js';
import { startServer } from '../server.js';
import type { Parsed } from './command.js';
import { configReloader } from './reload.js';
import { runUntilSignal } from './until-signal.js';

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  const log = createLogger(config.log.level, parsed.values.pretty === true, config.log.format);
  const server = await startServer(config, log);
  log.info({ data_dir: config.data_dir, relayhost: config.delivery.relayhost }, 'sluice started');
  const reload = configReloader({
    root: log,
    log,
    running: config,
    read: () => parsed.config(),
    spec: SERVE_RELOAD,
    prepare: (next) => server.prepareReload(next),
  });
  return await runUntilSignal(
    log,
    () => server.stop(),
    'no new connections, finishing transactions in flight',
    reload,
  );
}
