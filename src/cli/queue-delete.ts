/** `sluice queue delete ID... | --domain D`: delete queued messages (no bounce, no DSN). */
import { bulkCommand } from './queue-bulk.js';

export const queueDelete = bulkCommand('delete', 'delete queued messages (no bounce, no DSN)', 'deleted');
