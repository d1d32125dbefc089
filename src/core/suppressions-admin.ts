/**
 * Managing the suppression list, for every face that manages it (the HTTP API's
 * /suppression-list, the `sluice suppressions` CLI): adding entries with SparkPost's defaults
 * (source "Manually Added", `created` kept on update), removing them, reading them back.
 * Which entry stops which message is core/suppression.ts's rule, not this file's.
 */
import type {
  SuppressionFilter,
  SuppressionRecord,
  SuppressionStore,
  SuppressionType,
} from '../store/types.js';

export interface SuppressionInput {
  recipient: string;
  type: SuppressionType;
  description?: string | undefined;
  source?: string | undefined;
}

export const MANUALLY_ADDED = 'Manually Added';

/** Inserts or updates entries (one per recipient and type); returns how many were written. */
export async function addSuppressions(
  store: SuppressionStore,
  entries: readonly SuppressionInput[],
  now = new Date(),
): Promise<number> {
  const when = now.toISOString();
  const records: SuppressionRecord[] = entries.map((entry) => ({
    recipient: entry.recipient.trim().toLowerCase(),
    type: entry.type,
    source: entry.source ?? MANUALLY_ADDED,
    description: entry.description ?? '',
    created: when,
    updated: when,
  }));
  await store.put(records);
  return records.length;
}

export function suppressionsOf(store: SuppressionStore, recipient: string): Promise<SuppressionRecord[]> {
  return store.get(recipient.trim().toLowerCase());
}

/** Removes a recipient's entries (of one type, or both); returns how many went. */
export function removeSuppression(
  store: SuppressionStore,
  recipient: string,
  type?: SuppressionType,
): Promise<number> {
  return store.delete(recipient.trim().toLowerCase(), type);
}

export function listSuppressions(
  store: SuppressionStore,
  filter: SuppressionFilter,
): Promise<{ records: SuppressionRecord[]; next: string | null }> {
  return store.list(filter);
}
