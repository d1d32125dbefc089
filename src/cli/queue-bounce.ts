/** `sluice queue bounce ID... | --domain D`: bounce queued messages now (bounce events, DSN to the sender). */
import { bulkCommand } from './queue-bulk.js';

export const queueBounce = bulkCommand(
  'bounce',
  'bounce queued messages now (bounce events, DSN to the sender)',
  'bounced',
);
