/** `sluice queue hold ID... | --domain D`: put messages on hold (kept, not delivered, across restarts). */
import { bulkRun } from './queue-bulk.js';

export const run = bulkRun('hold', 'held');
