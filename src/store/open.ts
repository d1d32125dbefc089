/**
 * Opens the stores the configuration names: `embedded` (SQLite under data_dir, counters in this
 * process's memory) or `redis` (every store shared through one ioredis client). For a one-shot
 * command (the CLI) a Redis store is only handed out once the connection is ready; it fails after
 * store.redis.connect_timeout if Redis cannot be reached. A long-running service passes
 * `service: true`: it starts while Redis is unreachable (its doors answer with their outage
 * behaviour until Redis appears, without a restart) and fails only on errors no reconnect can
 * cure (wrong password, missing ACL rights, an untrusted certificate).
 */
import path from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import { EmbeddedCounterStore } from './embedded/counters.js';
import { openDatabase } from './embedded/db.js';
import { EmbeddedEventStore } from './embedded/events.js';
import { EmbeddedKeyStore } from './embedded/keys.js';
import { EmbeddedSuppressionStore } from './embedded/suppressions.js';
import { EmbeddedWebhookStore } from './embedded/webhooks.js';
import { createRedisClient, KeyNames, waitReachable, waitReady } from './redis/client.js';
import { RedisCounterStore } from './redis/counters.js';
import { RedisEventStore } from './redis/events.js';
import { RedisKeyStore } from './redis/keys.js';
import { RedisSuppressionStore } from './redis/suppressions.js';
import { RedisWebhookStore } from './redis/webhooks.js';
import type { Stores } from './types.js';

export interface OpenOptions {
  /** A long-running service: start even if Redis cannot be reached yet. */
  service?: boolean;
}

export async function openStores(config: Config, log?: Logger, options: OpenOptions = {}): Promise<Stores> {
  return config.store.backend === 'redis'
    ? await openRedisStores(config, log, options)
    : openEmbeddedStores(config);
}

export function openEmbeddedStores(config: Pick<Config, 'data_dir'>): Stores {
  const db = openDatabase(config.data_dir);
  const events = new EmbeddedEventStore(db, config.data_dir);
  return {
    keys: new EmbeddedKeyStore(db),
    events,
    suppressions: new EmbeddedSuppressionStore(db),
    webhooks: new EmbeddedWebhookStore(db),
    counters: new EmbeddedCounterStore(),
    async close() {
      events.close();
      db.close();
    },
  };
}

async function openRedisStores(config: Config, log: Logger | undefined, open: OpenOptions): Promise<Stores> {
  const options = config.store.redis;
  const redis = createRedisClient(options, log);
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
  const events = new RedisEventStore(redis, names, {
    dataDir: config.data_dir,
    maxLength: options.events_max_length,
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
    counters: new RedisCounterStore(redis, names),
    async close() {
      await events.close();
      redis.disconnect();
    },
  };
}
