/** `sluice queue delete ID... | --domain D`: delete queued messages (no bounce, no DSN). */
import { bulkRun } from './queue-bulk.js';

export const run = bulkRun('delete', 'deleted');
