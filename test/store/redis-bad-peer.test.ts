/**
 * What the Redis adapter does when the peer at store.redis.url is not a working Redis: a server
 * that answers with binary garbage, one that accepts and never answers, one that closes at once,
 * and a port nobody listens on. Each time openStores fails within its timeout with an error that
 * says Redis was not reachable, and the process stays up (the next open against a real Redis works).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { openStores } from '../../src/store/open.js';
import { freePort } from '../harness/net.js';
import { type RedisServer, startRedis } from '../harness/redis.js';

let dir: string;
let redis: RedisServer;
const servers: net.Server[] = [];

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-redis-bad-'));
  redis = await startRedis();
});

after(async () => {
  for (const s of servers) s.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function peer(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(onConnection);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

const open = (port: number) =>
  openStores(
    loadConfig({
      overrides: [
        `data_dir=${dir}`,
        'store.backend=redis',
        `store.redis.url=redis://127.0.0.1:${port}`,
        'store.redis.connect_timeout=1s',
        'store.redis.command_timeout=500ms',
      ],
    }),
  );

test('garbage, silence, an immediate close and a closed port: a clear error, and the process goes on', async () => {
  const garbage = await peer((socket) => {
    socket.on('data', () => socket.write(randomBytes(512)));
    socket.on('error', () => {});
  });
  const silent = await peer((socket) => socket.on('error', () => {}));
  const closer = await peer((socket) => socket.destroy());
  const nobody = await freePort();
  for (const port of [garbage, silent, closer, nobody])
    await assert.rejects(open(port), /redis not reachable within \d+ ms/, `port ${port}`);

  const stores = await open(redis.port);
  try {
    assert.deepEqual(await stores.keys.list(), []);
  } finally {
    await stores.close();
  }
});
