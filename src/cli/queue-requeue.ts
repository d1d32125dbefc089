/** `sluice queue requeue ID... | ALL`: pending recipients start over, routed afresh (postsuper -r). */
import { bulkRun } from './queue-bulk.js';

export const run = bulkRun('requeue', 'requeued');
