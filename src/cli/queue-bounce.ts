/** `sluice queue bounce ID... | --domain D`: bounce queued messages now (bounce events, DSN to the sender). */
import { bulkRun } from './queue-bulk.js';

export const run = bulkRun('bounce', 'bounced');
