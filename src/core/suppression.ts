/**
 * The suppression rule every door applies before accepting a recipient: a transactional message
 * is stopped by a `transactional` entry, any other by a `non_transactional` one (SparkPost's
 * semantics). `skip_suppression` in X-MSYS-API is honoured only where the caller allows it.
 */
import type { SuppressionRecord, SuppressionStore, SuppressionType } from '../store/types.js';
import { Rejection } from './reply.js';

export function suppressionTypeFor(transactional: boolean): SuppressionType {
  return transactional ? 'transactional' : 'non_transactional';
}

/** The entry that stops this recipient, or null. */
export async function findSuppression(
  store: SuppressionStore,
  recipient: string,
  transactional: boolean,
): Promise<SuppressionRecord | null> {
  const type = suppressionTypeFor(transactional);
  const entries = await store.get(recipient);
  return entries.find((entry) => entry.type === type) ?? null;
}

/** The recipients among `rcpts` that a message of this type may not go to. */
export async function suppressedAmong(
  store: SuppressionStore,
  rcpts: string[],
  transactional: boolean,
): Promise<string[]> {
  const out: string[] = [];
  for (const rcpt of rcpts) if (await findSuppression(store, rcpt, transactional)) out.push(rcpt);
  return out;
}

/** The refusal a door gives a suppressed recipient (550 5.7.1, as SparkPost's policy rejection). */
export function suppressedRejection(recipient: string): Rejection {
  return new Rejection(550, '5.7.1', `Recipient address <${recipient}> is on the suppression list`);
}
