/** `sluice queue release ID... | --domain D`: release held messages. */
import { bulkCommand } from './queue-bulk.js';

export const queueRelease = bulkCommand('release', 'release held messages', 'released');
