/**
 * `sluice policy`: the Postfix policy delegation service (check_policy_service) on policy.listen,
 * deciding with core's keys and limits on the configured store, until SIGTERM or SIGINT; then it
 * answers the requests in hand, closes every connection and the stores, and exits 0. SIGHUP
 * reloads the configuration: the log level, the actions, idle_timeout, max_request_size,
 * store_unavailable and the limits apply at once; listen, unauthenticated_action,
 * reservation_timeout, key_cache, the connection caps and the store wait for a restart.
 */
import { usingOption } from '../config/errors.js';
import type { ReloadSpec } from '../config/reload.js';
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
import { configReloader } from './reload.js';
import { runUntilSignal } from './until-signal.js';

export const POLICY_RELOAD: ReloadSpec = {
  uses: ['data_dir', 'store', 'log', 'policy'],
  live: ['log.level', 'policy'],
  restart: [
    'policy.listen',
    'policy.unauthenticated_action',
    'policy.reservation_timeout',
    'policy.key_cache',
    'policy.max_connections',
    'policy.max_connections_per_peer',
  ],
};

const rulesOf = (section: PolicyConfig) => ({
  key: section.limits.key.map(rule),
  sender_domain: section.limits.sender_domain.map(rule),
  client_address: section.limits.client_address.map(rule),
});

function rule(item: PolicyConfig['limits']['key'][number]): LimitRule {
  return { windowMs: item.window, messages: item.messages, recipients: item.recipients };
}

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  const section = config.policy;
  if (!section.listen) throw new UsageError('policy.listen is null: the policy service is turned off');
  const root = createLogger(config.log.level, parsed.values.pretty === true, config.log.format);
  const log = root.child({ service: 'policy' });
  const stores = await openStores(config, log, { service: true });
  const keys = new KeyService(stores.keys);
  const limits = new Limits(stores.counters, rulesOf(section), section.reservation_timeout);
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
  const reload = configReloader({
    root,
    log,
    running: config,
    read: () => parsed.config(),
    spec: POLICY_RELOAD,
    // The actions and connection limits are read from the section per request and connection.
    prepare: async (next) => () => limits.setRules(rulesOf(next.policy)),
  });
  return await runUntilSignal(
    log,
    async () => {
      await server.stop();
      await service.settle();
      await stores.close();
    },
    'answering requests in hand, then closing connections',
    reload,
  );
}
