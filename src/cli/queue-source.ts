/**
 * Where `sluice queue list|summary|show` read the queue: from the running server (it knows what is
 * running, deferred until when, and why), else, when no server answers, from the spool files
 * directly, read-only (queue/offline-view.ts), saying so on stderr so the output stays parseable.
 */
import type { Config } from '../config/schema.js';
import type { OfflineQueue } from '../queue/offline-view.js';
import { AdminError } from './errors.js';

export async function fromServerOrSpool<T>(
  config: Config,
  ask: () => Promise<T>,
  offline: (queue: OfflineQueue) => Promise<T>,
): Promise<T> {
  try {
    return await ask();
  } catch (error) {
    if (!(error instanceof AdminError) || !error.unavailable) throw error;
    process.stderr.write(
      `sluice: ${error.message}; read from the spool directly (read-only: no next attempt times; reasons from recorded events)\n`,
    );
  }
  const [{ OfflineQueue }, { openStores }] = await Promise.all([
    import('../queue/offline-view.js'),
    import('../store/open.js'),
  ]);
  // Reasons are a bonus: a store that cannot be opened leaves them out, the listing still works.
  const stores = await openStores(config).catch(() => null);
  try {
    return await offline(new OfflineQueue(config.data_dir, stores?.events ?? null));
  } finally {
    await stores?.close();
  }
}
