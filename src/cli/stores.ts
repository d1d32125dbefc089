/** Opens the configured stores for a one-shot CLI command and closes them afterwards. */
import type { Config } from '../config/index.js';
import { KeyService } from '../core/keys.js';
import { openStores } from '../store/open.js';
import type { Stores } from '../store/types.js';

export async function withStores<T>(
  config: Config,
  work: (stores: Stores, keys: KeyService) => Promise<T>,
): Promise<T> {
  const stores = await openStores(config);
  try {
    return await work(stores, new KeyService(stores.keys));
  } finally {
    await stores.close();
  }
}
