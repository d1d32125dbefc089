/**
 * A real three-master Redis Cluster on loopback ports for tests: three `redis-server
 * --cluster-enabled yes` (harness/redis.ts, no persistence) joined with `redis-cli --cluster
 * create`, resolved once every slot is served (cluster_state:ok). stop() stops all three.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { waitFor } from './net.js';
import { type RedisServer, startRedis } from './redis.js';

const run = promisify(execFile);
export const REDIS_CLI = '/usr/bin/redis-cli';

export interface RedisCluster {
  nodes: RedisServer[];
  /** "127.0.0.1:port" of every master, as store.redis.cluster takes them. */
  seeds: string[];
  stop(): Promise<void>;
}

export async function startRedisCluster(): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    for (const node of nodes) await node.stop();
  };
  try {
    for (let i = 0; i < 3; i++)
      nodes.push(
        await startRedis({
          extraArgs: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '5000',
          ],
        }),
      );
    const seeds = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run(REDIS_CLI, ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    for (const node of nodes)
      await waitFor(
        async () => {
          const { stdout } = await run(REDIS_CLI, ['-p', String(node.port), 'cluster', 'info']);
          return stdout.includes('cluster_state:ok');
        },
        30_000,
        `cluster_state:ok on ${node.port}`,
      );
    return { nodes, seeds, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
