/**
 * `sluice policy`: the Postfix policy delegation service (check_policy_service) on policy.listen,
 * deciding with core's keys and limits on the configured store, until SIGTERM or SIGINT; then it
 * answers the requests in hand, closes every connection and the stores, and exits 0.
 */
import { usingOption } from '../config/errors.js';
import type { PolicyConfig } from '../config/sections/policy.js';
import { KeyService } from '../core/keys.js';
import { type LimitRule, Limits } from '../core/limits.js';
import { PolicyService } from '../core/policy.js';
import { createLogger } from '../log.js';
import { isRefusal } from '../policy/actions.js';
import { startPolicyServer } from '../policy/server.js';
import { ExpiringKeyCache } from '../store/expiring-keys.js';
import { openStores } from '../store/open.js';
import { type Parsed, UsageError } from './command.js';
import { runUntilSignal } from './until-signal.js';

function rule(item: PolicyConfig['limits']['key'][number]): LimitRule {
  return { windowMs: item.window, messages: item.messages, recipients: item.recipients };
}

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  const section = config.policy;
  if (!section.listen) throw new UsageError('policy.listen is null: the policy service is turned off');
  const log = createLogger(config.log.level, parsed.values.pretty === true, config.log.format).child({
    service: 'policy',
  });
  const stores = await openStores(config, log, { service: true });
  const keys = new KeyService(stores.keys);
  const limits = new Limits(
    stores.counters,
    {
      key: section.limits.key.map(rule),
      sender_domain: section.limits.sender_domain.map(rule),
      client_address: section.limits.client_address.map(rule),
    },
    section.reservation_timeout,
  );
  // Each request names its key: read from the store at most once per key_cache (the revocation bound).
  const keyCache = new ExpiringKeyCache((id) => keys.get(id), section.key_cache);
  const service = new PolicyService(
    (id) => keyCache.get(id),
    limits,
    {
      refuseUnauthenticated: isRefusal(section.unauthenticated_action),
      // END-OF-MESSAGE is answered at once; the commit follows (core/policy.ts says why it stays exact).
      onBackgroundCommitError: (error, instance) =>
        log.info({ instance, error: error.message }, 'policy: commit failed, the holds expire instead'),
    },
    stores.suppressions,
  );
  let server: Awaited<ReturnType<typeof startPolicyServer>>;
  try {
    const listen = section.listen;
    server = await usingOption('policy.listen', listen, () =>
      startPolicyServer({ listen, config: section, policy: service, log }),
    );
  } catch (error) {
    await stores.close();
    throw error;
  }
  log.info({ listen: server.address, data_dir: config.data_dir }, 'sluice policy started');
  return await runUntilSignal(
    log,
    async () => {
      await server.stop();
      await service.settle();
      await stores.close();
    },
    'answering requests in hand, then closing connections',
  );
}
