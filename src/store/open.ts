/** Opens the stores the configuration names. */
import type { Config } from '../config/schema.js';
import { openDatabase } from './embedded/db.js';
import { EmbeddedEventStore } from './embedded/events.js';
import { EmbeddedKeyStore } from './embedded/keys.js';
import { EmbeddedSuppressionStore } from './embedded/suppressions.js';
import { EmbeddedWebhookStore } from './embedded/webhooks.js';
import type { Stores } from './types.js';

export function openStores(config: Config): Stores {
  const db = openDatabase(config.data_dir);
  const events = new EmbeddedEventStore(db, config.data_dir);
  return {
    keys: new EmbeddedKeyStore(db),
    events,
    suppressions: new EmbeddedSuppressionStore(db),
    webhooks: new EmbeddedWebhookStore(db),
    async close() {
      events.close();
      db.close();
    },
  };
}
