/**
 * Child process for the endpoint benchmark, so the server has its own core and autocannon the
 * other. `node tracking-server.js sluice DATA_DIR` runs Sluice's tracking server (the real fastify
 * app from src/http, embedded store in DATA_DIR, one injection event per benchmark message so
 * every click finds its campaign); `... reference` runs a bare fastify route /f/:token that
 * answers 302 without verifying or recording anything. The signing secret comes from the
 * environment (SLUICE_BENCH_SECRET). `sluice` writes the click events through BatchedEventStore (one
 * batch per event-loop turn) into ThreadedEventStore (committed by a worker thread), as `sluice
 * serve` does; `sluice-main-thread` commits the same batches on the main thread (how serve ran
 * before). Errors are logged (level error) on stdout. Prints "listening HOST:PORT" once ready; stops on SIGTERM.
 */
import Fastify from 'fastify';
import { configSchema } from '../src/config/schema.js';
import { injectionEvent } from '../src/core/events.js';
import { startHttpServer } from '../src/http/server.js';
import { createLogger } from '../src/log.js';
import { BatchedEventStore } from '../src/store/embedded/batched-events.js';
import { ThreadedEventStore } from '../src/store/embedded/threaded-events.js';
import { openStores } from '../src/store/open.js';
import { MAX_TOKEN_LENGTH, TokenSigner } from '../src/tracking/token.js';
import { BENCH_KEY_ID, benchFacts, benchMessages } from './tracking-tokens.js';

const [mode, dataDir] = process.argv.slice(2);
const secret = process.env.SLUICE_BENCH_SECRET ?? '';

async function main() {
  if (mode === 'reference') {
    const app = Fastify({ logger: false, routerOptions: { maxParamLength: MAX_TOKEN_LENGTH } });
    app.get('/f/:token', async (_request, reply) =>
      reply.code(302).headers({ location: 'https://shop.example/', 'cache-control': 'no-store' }).send(),
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    console.log(`listening 127.0.0.1:${address.port}`);
    process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
    return;
  }
  const stores = await openStores(configSchema.parse({ data_dir: dataDir }));
  for (const { messageId, rcpt } of benchMessages())
    stores.events.append(injectionEvent(benchFacts(messageId), rcpt));
  const signer = new TokenSigner([{ id: BENCH_KEY_ID, secret }], 365 * 86_400_000);
  const onError = (error: unknown, lost: number) => console.error(`lost ${lost} events: ${error}`);
  // As `sluice serve` runs it: batched per loop turn, committed by a worker thread.
  const threaded = mode === 'sluice' ? new ThreadedEventStore(dataDir!, stores.events, onError) : null;
  const batched = new BatchedEventStore(threaded ?? stores.events, onError);
  const server = await startHttpServer(
    { listen: '127.0.0.1:0', trustedProxies: [] },
    { signer, events: batched, log: createLogger('error') },
  );
  console.log(`listening ${server.address}`);
  process.on('SIGTERM', () => {
    void server
      .close()
      .then(() => batched.close())
      .then(() => threaded?.close())
      .then(() => stores.close())
      .then(() => process.exit(0));
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
