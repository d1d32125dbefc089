/**
 * `sluice milter`: the mail filter service Postfix (smtpd_milters) or Sendmail (INPUT_MAIL_FILTER)
 * calls for every message, on milter.listen. It applies X-MSYS-API, open and click tracking,
 * adds X-Sluice-Message-ID and records injection events in the configured store, deciding about
 * keys with core's PolicyService (src/milter/service.ts). Its events go to webhooks from here as
 * they would from `sluice serve` (stage 0 may run no serve at all); a store shared with a serve
 * hands each stored batch to one of them. Runs until SIGTERM or SIGINT, then closes the listener
 * and its connections, and stores the events gathered for webhooks.
 */
import { usingOption } from '../config/errors.js';
import { KeyService } from '../core/keys.js';
import { createLogger } from '../log.js';
import { startMilterService } from '../milter/service.js';
import { openStores } from '../store/open.js';
import { loadTrackingKeys } from '../tracking/keys.js';
import { TokenSigner } from '../tracking/token.js';
import { observedEvents, webhookDispatcher } from '../webhooks/dispatcher.js';
import type { Parsed } from './command.js';
import { runUntilSignal } from './until-signal.js';

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  if (!config.milter.listen) {
    process.stderr.write('sluice milter: milter.listen is null: there is nothing to listen on\n');
    return 78; // EX_CONFIG
  }
  const log = createLogger(config.log.level, parsed.values.pretty === true, config.log.format).child({
    service: 'milter',
  });
  const stores = await openStores(config, log, { service: true });
  const dispatcher = webhookDispatcher(config.webhooks, stores.webhooks, log);
  try {
    await dispatcher.start();
    const keys = new KeyService(stores.keys);
    const trackingKeys = await loadTrackingKeys(config.tracking.keys, config.data_dir);
    if (trackingKeys.generated)
      log.info({ file: trackingKeys.generated }, 'generated a tracking signing key');
    const server = await usingOption('milter.listen', config.milter.listen, () =>
      startMilterService({
        config,
        findKey: (id) => keys.get(id),
        events: observedEvents(stores.events, (event) => dispatcher.offer(event)),
        signer: new TokenSigner(trackingKeys.keys, config.tracking.link_ttl),
        log,
      }),
    );
    log.info({ address: server.address, data_dir: config.data_dir }, 'sluice milter listening');
    return await runUntilSignal(log, () => server.stop(), 'finishing messages in hand');
  } finally {
    await dispatcher.stop();
    await stores.close();
  }
}
