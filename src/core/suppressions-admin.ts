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

export const SUPPRESSION_TYPES: SuppressionType[] = ['transactional', 'non_transactional'];

/** Input a person typed (the CLI) that cannot be an entry. */
export class SuppressionInputError extends Error {}

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

/** Entries for checked addresses: one type, or both when none is named (SparkPost's manual default). */
export function suppressionInputs(
  recipients: readonly string[],
  type: SuppressionType | undefined,
  description?: string,
): SuppressionInput[] {
  return recipients.flatMap((address) => {
    const recipient = normalizeRecipient(address);
    return (type ? [type] : SUPPRESSION_TYPES).map((t) => ({ recipient, type: t, description }));
  });
}
