/** `sluice queue release ID... | --domain D`: release held messages. */
import { bulkRun } from './queue-bulk.js';

export const run = bulkRun('release', 'released');
