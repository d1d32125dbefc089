/**
 * Managing the suppression list by hand: the operations `sluice suppressions` and the HTTP API
 * (SparkPost's /api/v1/suppression-list) share, with one set of checks. An entry added without a
 * type stops both transactional and non-transactional mail (SparkPost's manual default).
 */
import type {
  SuppressionFilter,
  SuppressionRecord,
  SuppressionStore,
  SuppressionType,
} from '../store/types.js';

export const SUPPRESSION_TYPES: SuppressionType[] = ['transactional', 'non_transactional'];

export class SuppressionInputError extends Error {}

export interface NewSuppression {
  recipient: string;
  type?: SuppressionType | undefined;
  description?: string | undefined;
  source?: string | undefined;
}

/** A mailbox as `local@domain`, no spaces or angle brackets, at most 320 characters (RFC 5321). */
export function normalizeRecipient(address: string): string {
  const recipient = address.trim().toLowerCase();
  if (recipient.length > 320 || !/^[^\s@<>]+@[^\s@<>]+$/.test(recipient))
    throw new SuppressionInputError(`not an email address: "${address.slice(0, 100)}"`);
  return recipient;
}

export function parseSuppressionType(value: string | undefined): SuppressionType | undefined {
  if (value === undefined) return undefined;
  if (!SUPPRESSION_TYPES.includes(value as SuppressionType))
    throw new SuppressionInputError(`type must be ${SUPPRESSION_TYPES.join(' or ')}, not "${value}"`);
  return value as SuppressionType;
}

export async function addSuppressions(
  store: SuppressionStore,
  entries: NewSuppression[],
  now = new Date(),
): Promise<SuppressionRecord[]> {
  const at = now.toISOString();
  const records: SuppressionRecord[] = [];
  for (const entry of entries) {
    const recipient = normalizeRecipient(entry.recipient);
    const description = (entry.description ?? '').slice(0, 1024);
    for (const type of entry.type ? [entry.type] : SUPPRESSION_TYPES)
      records.push({
        recipient,
        type,
        source: entry.source ?? 'Manually Added',
        description,
        created: at,
        updated: at,
      });
  }
  await store.put(records);
  return records;
}

/** Removes a recipient's entries (of one type, or all); the number removed. */
export async function removeSuppression(
  store: SuppressionStore,
  recipient: string,
  type?: SuppressionType,
): Promise<number> {
  return await store.delete(normalizeRecipient(recipient), type);
}

export async function listSuppressions(
  store: SuppressionStore,
  filter: SuppressionFilter,
): Promise<{ records: SuppressionRecord[]; next: string | null }> {
  return await store.list(filter);
}
