/**
 * The `store` section: where shared state lives. `embedded` keeps keys, events and suppressions in
 * SQLite under data_dir (one machine); `redis` shares them, and the rate counters, between nodes
 * through ioredis (single server, Sentinel or Cluster). What each door does while Redis cannot be
 * reached is chosen here for SMTP and in `policy.store_unavailable` for the policy service.
 */
import { z } from 'zod';
import { hostPort, timerDuration } from '../validators.js';

const redisSection = z
  .strictObject({
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'expected redis://host:port[/db] or rediss://host:port[/db]')
      .default('redis://127.0.0.1:6379')
      .describe('Single server (ignored when sentinels or cluster are set); rediss:// turns TLS on'),
    username: z.string().nullable().default(null).describe('ACL user name. null: none (or the one in url)'),
    password: z
      .string()
      .nullable()
      .default(null)
      .describe('Password (ACL or requirepass). null: none (or the one in url). Never logged'),
    tls: z.boolean().default(false).describe('Connect with TLS (also implied by a rediss:// url)'),
    tls_ca: z
      .string()
      .nullable()
      .default(null)
      .describe('PEM file of the CA that signed the server certificate. null: system CAs'),
    sentinels: z
      .array(hostPort)
      .default([])
      .describe('Sentinel addresses ("host:port"); with `name`, the master is found through them'),
    name: z.string().default('mymaster').describe('Master group name the sentinels monitor'),
    sentinel_password: z.string().nullable().default(null).describe('Password of the sentinels. null: none'),
    cluster: z
      .array(hostPort)
      .default([])
      .describe('Redis Cluster seed nodes ("host:port"); when set, sentinels and url are ignored'),
    key_prefix: z
      .string()
      .regex(/^[^\s{}]*$/, 'expected no spaces or braces (the braces are the cluster hash tags)')
      .default('sluice:')
      .describe('Put before every key, so several installations can share one Redis'),
    connect_timeout: timerDuration.prefault('5s').describe('Give up one connection attempt after this long'),
    command_timeout: timerDuration
      .prefault('2s')
      .describe('A command unanswered this long fails, so a door can take its unavailable path'),
    events_max_length: z
      .number()
      .int()
      .min(1000)
      .default(1_000_000)
      .describe('Events kept in the shared stream (older ones are trimmed, approximately)'),
  })
  .prefault({});

export const storeSection = z
  .strictObject({
    backend: z
      .enum(['embedded', 'redis'])
      .default('embedded')
      .describe(
        'Shared state (keys, events, suppressions, rate counters): "embedded" is SQLite under data_dir (one node); "redis" is shared by every node',
      ),
    redis: redisSection,
    smtp_unavailable: z
      .enum(['defer', 'cached_keys'])
      .default('defer')
      .describe(
        'The SMTP door while the store cannot be read: defer (AUTH 454 4.7.0, RCPT 451 4.3.0, Dovecot temp fail; the client retries) or cached_keys (keys this process has looked up still authenticate; the suppression list goes unchecked)',
      ),
  })
  .prefault({});

export type StoreConfig = z.output<typeof storeSection>;
export type RedisConfig = StoreConfig['redis'];
