/**
 * The Redis half of store/open.ts, in its own module so that only a node configured for Redis
 * loads ioredis (open.ts imports this lazily).
 */
import path from 'node:path';
import type { Config } from '../../config/schema.js';
import { retentionOf } from '../../core/metrics/retention.js';
import { outageAnswers } from '../../core/store-outage.js';
import type { Logger } from '../../log.js';
import type { OpenOptions } from '../open.js';
import type { Stores } from '../types.js';
import { createRedisClient, KeyNames, waitReachable, waitReady } from './client.js';
import { RedisCounterStore } from './counters.js';
import { RedisEventStore } from './events.js';
import { RedisKeyStore } from './keys.js';
import { RedisMetricsStore } from './metrics.js';
import { RedisSuppressionStore } from './suppressions.js';
import { RedisRecipientListStore, RedisTemplateStore } from './templates.js';
import { RedisTransmissionStore } from './transmissions.js';
import { RedisWebhookStore } from './webhooks.js';

export async function openRedisStores(
  config: Config,
  log: Logger | undefined,
  open: OpenOptions,
): Promise<Stores> {
  const options = config.store.redis;
  const redis = createRedisClient(options, log, outageAnswers(config));
  try {
    if (!open.service) await waitReady(redis, Math.max(options.connect_timeout, 1000));
    else {
      const unreachable = await waitReachable(redis, Math.max(options.connect_timeout, 1000));
      if (unreachable)
        log?.warn(
          { error: unreachable.message },
          'redis not reachable at start: starting anyway, doors use their outage behaviour until it is',
        );
    }
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  const names = new KeyNames(options.key_prefix);
  const metrics = new RedisMetricsStore(redis, names, retentionOf(config.metrics));
  const events = new RedisEventStore(redis, names, {
    dataDir: config.data_dir,
    maxLength: options.events_max_length,
    metrics: config.metrics.rollups ? metrics : null,
    outbox: {
      onState: (ok, error) =>
        ok
          ? log?.info({ dir: path.join(config.data_dir, 'outbox') }, 'buffered events flushed to redis')
          : log?.warn({ error: error?.message }, 'events buffered on disk until redis is back'),
    },
  });
  return {
    keys: new RedisKeyStore(redis, names),
    events,
    suppressions: new RedisSuppressionStore(redis, names),
    // A claimed batch is not offered to another node while an attempt can still be running.
    webhooks: new RedisWebhookStore(redis, names, config.webhooks.timeout + 10_000),
    templates: new RedisTemplateStore(redis, names),
    recipientLists: new RedisRecipientListStore(redis, names),
    transmissions: new RedisTransmissionStore(redis, names, config.events.retention),
    counters: new RedisCounterStore(redis, names),
    metrics,
    async close() {
      await events.close();
      redis.disconnect();
    },
  };
}
