/**
 * Lua scripts run by EVALSHA (loaded on first use, again after a restart or failover wiped the
 * script cache: ioredis falls back to EVAL on NOSCRIPT). Every key a script writes shares one hash
 * tag, so each script is atomic and valid on a Cluster.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './client.js';

export type Script = (keys: string[], args: Array<string | number>) => Promise<unknown>;
export type Scripts<Name extends string> = Record<Name, Script>;

export function defineScripts<Name extends string>(
  redis: RedisClient,
  sources: Record<Name, string>,
): Scripts<Name> {
  const out = {} as Scripts<Name>;
  for (const name of Object.keys(sources) as Name[]) {
    const source = sources[name];
    const sha = createHash('sha1').update(source).digest('hex');
    out[name] = async (keys, args) => {
      try {
        return await redis.evalsha(sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        return await redis.eval(source, keys.length, ...keys, ...args);
      }
    };
  }
  return out;
}
