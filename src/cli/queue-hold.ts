/** `sluice queue hold ID... | --domain D`: put messages on hold (kept, not delivered, across restarts). */
import { bulkCommand } from './queue-bulk.js';

export const queueHold = bulkCommand(
  'hold',
  'put messages on hold (kept, not delivered, across restarts)',
  'held',
);
