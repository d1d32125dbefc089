/** `sluice serve`: run the MTA until SIGTERM or SIGINT, then shut down cleanly. */
import { createLogger } from '../log.js';
import { startServer } from '../server.js';
import type { Parsed } from './command.js';
import { runUntilSignal } from './until-signal.js';

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  const log = createLogger(config.log.level, parsed.values.pretty === true, config.log.format);
  const server = await startServer(config, log);
  log.info({ data_dir: config.data_dir, relayhost: config.delivery.relayhost }, 'sluice started');
  return await runUntilSignal(
    log,
    () => server.stop(),
    'no new connections, finishing transactions in flight',
  );
}
