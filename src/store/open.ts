/**
 * Opens the stores the configuration names: `embedded` (SQLite under data_dir, counters in this
 * process's memory) or `redis` (every store shared through one ioredis client). For a one-shot
 * command (the CLI) a Redis store is only handed out once the connection is ready; it fails after
 * store.redis.connect_timeout if Redis cannot be reached. A long-running service passes
 * `service: true`: it starts while Redis is unreachable (its doors answer with their outage
 * behaviour until Redis appears, without a restart) and fails only on errors no reconnect can
 * cure (wrong password, missing ACL rights, an untrusted certificate).
 */
import { usingOption } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { retentionOf } from '../core/metrics/retention.js';
import type { Logger } from '../log.js';
import { EmbeddedCounterStore } from './embedded/counters.js';
import { openDatabase } from './embedded/db.js';
import { EmbeddedEventStore } from './embedded/events.js';
import { EmbeddedKeyStore } from './embedded/keys.js';
import { EmbeddedMetricsStore } from './embedded/metrics.js';
import { EmbeddedSuppressionStore } from './embedded/suppressions.js';
import { EmbeddedRecipientListStore, EmbeddedTemplateStore } from './embedded/templates.js';
import { EmbeddedTransmissionStore } from './embedded/transmissions.js';
import { EmbeddedWebhookStore } from './embedded/webhooks.js';
import type { Stores } from './types.js';

export interface OpenOptions {
  /** A long-running service: start even if Redis cannot be reached yet. */
  service?: boolean;
}

export async function openStores(config: Config, log?: Logger, options: OpenOptions = {}): Promise<Stores> {
  if (config.store.backend !== 'redis')
    return await usingOption('data_dir', config.data_dir, () => openEmbeddedStores(config));
  // Loaded only when used: ioredis costs an embedded node start-up time and, until repaired
  // (runtime/string-prototype.ts), string speed.
  const { openRedisStores } = await import('./redis/open.js');
  return await openRedisStores(config, log, options);
}

export function openEmbeddedStores(
  config: Pick<Config, 'data_dir'> & Partial<Pick<Config, 'metrics'>>,
): Stores {
  const db = openDatabase(config.data_dir);
  const retention = config.metrics ? retentionOf(config.metrics) : undefined;
  const events = new EmbeddedEventStore(db, config.data_dir, {
    rollups: config.metrics?.rollups !== false,
    ...(retention ? { retention } : {}),
  });
  return {
    keys: new EmbeddedKeyStore(db),
    events,
    suppressions: new EmbeddedSuppressionStore(db),
    webhooks: new EmbeddedWebhookStore(db),
    templates: new EmbeddedTemplateStore(db),
    recipientLists: new EmbeddedRecipientListStore(db),
    transmissions: new EmbeddedTransmissionStore(db),
    counters: new EmbeddedCounterStore(),
    metrics: new EmbeddedMetricsStore(db, retention),
    async close() {
      events.close();
      db.close();
    },
  };
}
