/**
 * Child process for hardening.test.ts (run with --expose-gc): the real milter service of
 * `sluice milter` (startMilterService, a real socket, the embedded store in data_dir argv[2]),
 * plus a way to read its memory that the binary does not offer. It prints `{"port":N}` once
 * listening, then answers each `measure` line on stdin with one JSON line of process.memoryUsage()
 * taken after full garbage collections. Its pino log goes to stderr.
 */
import readline from 'node:readline';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/index.js';
import { KeyService } from '../../src/core/keys.js';
import { UpstreamIdSigner } from '../../src/core/upstream-id.js';
import { startMilterService } from '../../src/milter/service.js';
import { openStores } from '../../src/store/open.js';
import { TokenSigner } from '../../src/tracking/token.js';
import { freePort } from '../harness/net.js';

const dataDir = process.argv[2]!;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const config = loadConfig({
  overrides: [`data_dir=${dataDir}`, `milter.listen=inet:127.0.0.1:${await freePort()}`],
});
const log = pino({ level: 'info' }, pino.destination(2));
const stores = await openStores(config, log, { service: true });
const keys = new KeyService(stores.keys);
const trackingKeys = [{ id: 'k1', secret: 'memory-child-secret-memory-child-secret' }];
const server = await startMilterService({
  config,
  findKey: (id) => keys.get(id),
  events: stores.events,
  signer: new TokenSigner(trackingKeys, 3_600_000),
  idSigner: new UpstreamIdSigner(trackingKeys),
  log,
});
process.stdout.write(`${JSON.stringify({ port: Number(server.address.split(':').at(-1)) })}\n`);

for await (const line of readline.createInterface({ input: process.stdin })) {
  if (line.trim() !== 'measure') continue;
  // Several rounds: a first GC can leave what finalizers free for the next one.
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  process.stdout.write(`${JSON.stringify(process.memoryUsage())}\n`);
}
await server.stop();
await stores.close();
