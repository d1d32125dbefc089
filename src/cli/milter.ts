/**
 * `sluice milter`: the mail filter service Postfix (smtpd_milters) or Sendmail (INPUT_MAIL_FILTER)
 * calls for every message, on milter.listen. It applies X-MSYS-API, open and click tracking,
 * adds X-Sluice-Message-ID and records injection events in the configured store, deciding about
 * keys with core's PolicyService (src/milter/service.ts). Its events go to webhooks from here as
 * they would from `sluice serve` (stage 0 may run no serve at all); a store shared with a serve
 * hands each stored batch to one of them. Runs until SIGTERM or SIGINT, then closes the listener
 * and its connections, and stores the events gathered for webhooks. SIGHUP reloads the
 * configuration: the log level, relay networks, tracking keys and settings and
 * milter.unauthenticated apply to the next messages; the rest of the milter section, webhooks and
 * the store wait for a restart.
 */
import { usingOption } from '../config/errors.js';
import type { ReloadSpec } from '../config/reload.js';
import { KeyService } from '../core/keys.js';
import { UpstreamIdSigner } from '../core/upstream-id.js';
import { createLogger } from '../log.js';
import { startMilterService } from '../milter/service.js';
import { openStores } from '../store/open.js';
import { loadTrackingKeys } from '../tracking/keys.js';
import { TokenSigner } from '../tracking/token.js';
import { observedEvents, webhookDispatcher } from '../webhooks/dispatcher.js';
import type { Parsed } from './command.js';
import { configReloader } from './reload.js';
import { runUntilSignal } from './until-signal.js';

export const MILTER_RELOAD: ReloadSpec = {
  uses: ['data_dir', 'store', 'log', 'relay', 'tracking', 'milter', 'webhooks'],
  live: ['log.level', 'relay', 'tracking', 'milter.unauthenticated'],
};

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  if (!config.milter.listen) {
    process.stderr.write('sluice milter: milter.listen is null: there is nothing to listen on\n');
    return 78; // EX_CONFIG
  }
  const root = createLogger(config.log.level, parsed.values.pretty === true, config.log.format);
  const log = root.child({ service: 'milter' });
  const stores = await openStores(config, log, { service: true });
  const dispatcher = webhookDispatcher(config.webhooks, stores.webhooks, log);
  try {
    await dispatcher.start();
    const keys = new KeyService(stores.keys);
    const trackingKeys = await loadTrackingKeys(config.tracking.keys, config.data_dir);
    if (trackingKeys.generated)
      log.info({ file: trackingKeys.generated }, 'generated a tracking signing key');
    const signer = new TokenSigner(trackingKeys.keys, config.tracking.link_ttl);
    const idSigner = new UpstreamIdSigner(trackingKeys.keys);
    const server = await usingOption('milter.listen', config.milter.listen, () =>
      startMilterService({
        config,
        findKey: (id) => keys.get(id),
        events: observedEvents(stores.events, (event) => dispatcher.offer(event)),
        signer,
        idSigner,
        log,
      }),
    );
    log.info({ address: server.address, data_dir: config.data_dir }, 'sluice milter listening');
    const reload = configReloader({
      root,
      log,
      running: config,
      read: () => parsed.config(),
      spec: MILTER_RELOAD,
      prepare: async (next) => {
        const { keys: nextKeys } = await loadTrackingKeys(next.tracking.keys, next.data_dir);
        return () => {
          signer.setKeys(nextKeys, next.tracking.link_ttl);
          idSigner.setKeys(nextKeys);
          server.reload(next);
        };
      },
    });
    return await runUntilSignal(log, () => server.stop(), 'finishing messages in hand', reload);
  } finally {
    await dispatcher.stop();
    await stores.close();
  }
}
