/**
 * `sluice auth`: the Dovecot SASL service Postfix asks to check SMTP AUTH credentials
 * (smtpd_sasl_type = dovecot, smtpd_sasl_path = inet:HOST:PORT). User SMTP_Injection, password an
 * API key with smtp/inject; Postfix's sasl_username becomes the key id. Runs until SIGTERM or
 * SIGINT, then stops accepting and ends its connections. SIGHUP reloads the configuration: the
 * log level and the auth section (for new connections) apply; auth.listen, auth.failure_delay,
 * the connection limits, auth.key_cache and the store wait for a restart.
 */

import { startAuthServer } from '../auth/server.js';
import { usingOption } from '../config/errors.js';
import type { ReloadSpec } from '../config/reload.js';
import { AuthThrottle } from '../core/auth-throttle.js';
import { KeyService } from '../core/keys.js';
import { createLogger } from '../log.js';
import { CachingKeyStore } from '../store/cached-keys.js';
import { openStores } from '../store/open.js';
import type { Parsed } from './command.js';
import { configReloader } from './reload.js';
import { runUntilSignal } from './until-signal.js';

export const AUTH_RELOAD: ReloadSpec = {
  uses: ['data_dir', 'store', 'log', 'auth'],
  live: ['log.level', 'auth'],
  restart: [
    'auth.listen',
    'auth.failure_delay',
    'auth.max_connections',
    'auth.max_connections_per_peer',
    'auth.key_cache',
  ],
};

export async function run(parsed: Parsed): Promise<number> {
  const config = parsed.config();
  if (!config.auth.listen) {
    process.stderr.write('sluice auth: auth.listen is null: there is nothing to listen on\n');
    return 78; // EX_CONFIG
  }
  const root = createLogger(config.log.level, parsed.values.pretty === true, config.log.format);
  const log = root.child({ service: 'auth' });
  const stores = await openStores(config, log, { service: true });
  try {
    const listen = config.auth.listen;
    const server = await usingOption('auth.listen', listen, () =>
      startAuthServer(listen, {
        config: config.auth,
        // The same choices as the SMTP door's AUTH: Postfix asks this service for SMTP AUTH.
        keys: new KeyService(
          config.store.smtp_unavailable === 'cached_keys' ? new CachingKeyStore(stores.keys) : stores.keys,
          { cacheMs: config.auth.key_cache },
        ),
        throttle: new AuthThrottle(config.auth.failure_delay),
        log,
      }),
    );
    log.info({ address: server.address, data_dir: config.data_dir }, 'sluice auth listening');
    const reload = configReloader({
      root,
      log,
      running: config,
      read: () => parsed.config(),
      spec: AUTH_RELOAD,
      // The server reads the auth section at each new connection: nothing to prepare.
      prepare: async () => () => {},
    });
    return await runUntilSignal(log, () => server.stop(), 'finishing requests in hand', reload);
  } finally {
    await stores.close();
  }
}
