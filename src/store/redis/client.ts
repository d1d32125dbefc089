/**
 * One ioredis client from the `store.redis` options: a single server, a Sentinel group or a
 * Cluster. Commands fail within `command_timeout` while Redis is away (so doors take their
 * unavailable path instead of hanging), and the client keeps reconnecting in the background, so
 * service comes back without a restart. The availability is logged once per change, not per error.
 *
 * Auto-pipelining is on: commands issued in one turn of the event loop (a policy request's
 * suppression lookup and reservation, or several sessions' commands) leave in one write.
 *
 * Key names: `<key_prefix>{<area>}:<rest>`. The braces are a Cluster hash tag: every key of one
 * area (keys, limits, suppressions, events) lives in one slot, so Lua scripts and MULTI that touch
 * several keys of an area stay valid on a Cluster; the price is that one area is not spread
 * across shards (see contrib/redis/README.md).
 */
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { OptionError } from '../../config/errors.js';
import type { RedisConfig } from '../../config/sections/store.js';
import type { Logger } from '../../log.js';
import { restoreFastStringPrototype } from '../../runtime/string-prototype.js';
import { outageSummary } from '../outage.js';

// ioredis subclasses String while it loads, which slows every string in the process down.
restoreFastStringPrototype();

export type RedisClient = Redis | Cluster;

export type Area = 'keys' | 'lim' | 'sup' | 'ev' | 'wh' | 'tpl' | 'rl' | 'tx' | 'mx';

export class KeyNames {
  constructor(private readonly prefix: string) {}

  /** The common start of every key of one area (hash tag included). */
  base(area: Area): string {
    return `${this.prefix}{${area}}:`;
  }

  key(area: Area, rest: string): string {
    return `${this.base(area)}${rest}`;
  }
}

function parseHostPort(value: string): { host: string; port: number } {
  const at = value.lastIndexOf(':');
  return { host: value.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(value.slice(at + 1)) };
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new OptionError('store.redis.tls_ca', file, error);
  }
}

/** Reconnect quickly at first, then every second at most, for ever. */
const retryStrategy = (times: number) => Math.min(50 * times, 1000);

/**
 * `answers`: what the doors answer while Redis is away (core/store-outage.ts), put in the one
 * line that reports the outage.
 */
export function createRedisClient(config: RedisConfig, log?: Logger, answers?: string): RedisClient {
  const tlsWanted = config.tls || config.url.startsWith('rediss://');
  const tls = tlsWanted ? (config.tls_ca ? { ca: readCa(config.tls_ca) } : {}) : undefined;
  const common: RedisOptions = {
    connectTimeout: config.connect_timeout,
    commandTimeout: config.command_timeout,
    // A command waits through at most two reconnect attempts, then fails: callers decide what then.
    maxRetriesPerRequest: 2,
    enableAutoPipelining: true,
    retryStrategy,
    ...(config.username !== null && { username: config.username }),
    ...(config.password !== null && { password: config.password }),
    ...(tls && { tls }),
  };
  let client: RedisClient;
  if (config.cluster.length > 0) {
    client = new Cluster(config.cluster.map(parseHostPort), {
      redisOptions: common,
      clusterRetryStrategy: retryStrategy,
      enableAutoPipelining: true,
    });
  } else if (config.sentinels.length > 0) {
    client = new Redis({
      ...common,
      sentinels: config.sentinels.map(parseHostPort),
      name: config.name,
      ...(config.sentinel_password !== null && { sentinelPassword: config.sentinel_password }),
      sentinelRetryStrategy: retryStrategy,
      // After a failover the old master may come back as a replica: follow the role change.
      reconnectOnError: (error) => error.message.startsWith('READONLY'),
    });
  } else {
    client = new Redis(config.url, common);
  }
  watchAvailability(client, redisWhere(config), log, answers);
  return client;
}

/** Where the store is, without credentials: "127.0.0.1:6379", "sentinels a:26379,b:26379 (mymaster)". */
export function redisWhere(config: RedisConfig): string {
  if (config.cluster.length > 0) return `cluster ${config.cluster.join(',')}`;
  if (config.sentinels.length > 0) return `sentinels ${config.sentinels.join(',')} (${config.name})`;
  try {
    const url = new URL(config.url);
    return url.host || config.url.replace(/\/\/[^@/]*@/, '//');
  } catch {
    return 'the configured url';
  }
}

/**
 * Logs "redis unavailable" (where, why in a few words, what each door answers meanwhile) and
 * "redis available" once per change of state: errors repeat while Redis is down, the line does not.
 */
function watchAvailability(client: RedisClient, at: string, log?: Logger, answers?: string): void {
  let up: boolean | null = null;
  client.on('ready', () => {
    if (up !== true) log?.info({ store: 'redis', at }, 'redis available');
    up = true;
  });
  const down = (error?: Error) => {
    if (up === false) return;
    up = false;
    // A few words, not the client's message: it names its own options, which the operator cannot set.
    const reason = error ? outageSummary(error).reason : 'connection lost';
    log?.warn({ store: 'redis', at, reason, ...(answers && { answers }) }, 'redis unavailable');
  };
  client.on('error', down);
  client.on('close', () => {
    if (up === true) down();
  });
}

/**
 * Waits until the client is ready, or fails after `ms` (a node must not start against no store),
 * naming the last error seen (refused connection, WRONGPASS, certificate...).
 */
export async function waitReady(client: RedisClient, ms: number): Promise<void> {
  if (client.status === 'ready') return;
  let last: Error | null = null;
  const remember = (error: Error) => {
    last = error;
  };
  client.on('error', remember);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', ready);
        const why = (last as Error | null)?.message ?? 'no answer';
        reject(new Error(`redis not reachable within ${ms} ms: ${why}`));
      }, ms);
      const ready = () => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', ready);
    });
  } finally {
    client.off('error', remember);
  }
}

/** Errors no reconnect can cure: wrong credentials, missing ACL rights, an untrusted certificate. */
const MISCONFIGURED = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|certificate|CERT_|self.signed/i;

export function isMisconfiguration(error: Error): boolean {
  return MISCONFIGURED.test(`${error.message} ${(error as NodeJS.ErrnoException).code ?? ''}`);
}

/**
 * For a service starting up: waits for the first sign from Redis, at most `ms`. Ready: fine. An
 * error a reconnect cannot cure (see isMisconfiguration) fails, so a misconfigured node does not
 * start. Unreachable (refused, timed out, a peer that is not Redis): resolves with that error;
 * the node starts, its doors answer with their outage behaviour, and the client keeps
 * reconnecting in the background.
 */
export async function waitReachable(client: RedisClient, ms: number): Promise<Error | null> {
  if (client.status === 'ready') return null;
  let onReady = () => {};
  let onError = (_error: Error) => {};
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<Error | null>((resolve, reject) => {
      onReady = () => resolve(null);
      onError = (error: Error) => (isMisconfiguration(error) ? reject(error) : resolve(error));
      timer = setTimeout(() => resolve(new Error(`no answer within ${ms} ms`)), ms);
      client.once('ready', onReady);
      client.once('error', onError);
    });
  } finally {
    clearTimeout(timer);
    client.off('ready', onReady);
    client.off('error', onError);
  }
}
