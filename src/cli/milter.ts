/**
 * `sluice milter`: the mail filter service Postfix (smtpd_milters) or Sendmail (INPUT_MAIL_FILTER)
 * calls for every message, on milter.listen. It applies X-MSYS-API, adds X-Sluice-Message-ID and
 * records injection events in the configured store, deciding about keys with core's
 * PolicyService. Runs until SIGTERM or SIGINT, then closes the listener and its connections.
 */
import { KeyService } from '../core/keys.js';
import { Limits } from '../core/limits.js';
import { PolicyService } from '../core/policy.js';
import { RelayPolicy } from '../core/relay-policy.js';
import { createLogger } from '../log.js';
import { SluiceFilter } from '../milter/filter.js';
import { startMilterServer } from '../milter/server.js';
import { openStores } from '../store/open.js';
import type { Command } from './command.js';
import { runUntilSignal } from './until-signal.js';

const NO_LIMITS = { key: [], sender_domain: [], client_address: [] };

export const milter: Command = {
  name: 'milter',
  summary: 'run the mail filter for Postfix and Sendmail (X-MSYS-API, message ids, events)',
  usage: 'sluice milter [--config FILE] [-o key.path=value ...] [--pretty]',
  options: { pretty: { type: 'boolean' } },
  async run(parsed) {
    const config = parsed.config();
    const section = config.milter;
    if (!section.listen) {
      process.stderr.write('sluice milter: milter.listen is null: there is nothing to listen on\n');
      return 78; // EX_CONFIG
    }
    const log = createLogger(config.log.level, parsed.values.pretty === true).child({ service: 'milter' });
    const stores = await openStores(config, log);
    try {
      const keys = new KeyService(stores.keys);
      // Only the key check is asked of the policy here (stage "other"): limits stay sluice policy's.
      const policy = new PolicyService((id) => keys.get(id), new Limits(stores.counters, NO_LIMITS, 60_000), {
        refuseUnauthenticated: false,
      });
      const relay = new RelayPolicy(config.relay);
      const server = await startMilterServer(
        {
          listen: section.listen,
          socketMode: Number.parseInt(section.socket_mode, 8),
          maxPacketSize: section.max_packet_size,
          idleTimeoutMs: section.idle_timeout,
          maxConnections: section.max_connections,
          progressIntervalMs: section.progress_interval,
        },
        () => new SluiceFilter({ policy, events: stores.events, relay }),
        log,
      );
      log.info({ address: server.address, data_dir: config.data_dir }, 'sluice milter listening');
      return await runUntilSignal(log, () => server.stop(), 'finishing messages in hand');
    } finally {
      await stores.close();
    }
  },
};
