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

/**
 * What a door does when the suppression list cannot be read (a store outage): `defer` refuses the
 * recipient for now (451 4.3.0, the client retries, nothing is lost); `accept` lets it through
 * unchecked, for operators who chose availability (store.smtp_unavailable: cached_keys).
 */
export type SuppressionOutage = 'defer' | 'accept';

export class SuppressionUnavailable extends Rejection {
  constructor() {
    super(451, '4.3.0', 'Suppression list temporarily unavailable, try again later');
  }
}

/** findSuppression with the door's outage behaviour applied; `onSkip` hears of an unchecked recipient. */
export async function checkSuppression(
  store: SuppressionStore,
  recipient: string,
  transactional: boolean,
  outage: SuppressionOutage,
  onSkip?: (error: unknown) => void,
): Promise<SuppressionRecord | null> {
  try {
    return await findSuppression(store, recipient, transactional);
  } catch (error) {
    if (outage === 'defer') throw new SuppressionUnavailable();
    onSkip?.(error);
    return null;
  }
}

/** suppressedAmong with the door's outage behaviour applied. */
export async function checkSuppressedAmong(
  store: SuppressionStore,
  rcpts: string[],
  transactional: boolean,
  outage: SuppressionOutage,
  onSkip?: (error: unknown) => void,
): Promise<string[]> {
  const out: string[] = [];
  for (const rcpt of rcpts)
    if (await checkSuppression(store, rcpt, transactional, outage, onSkip)) out.push(rcpt);
  return out;
}

/** The door's outage behaviour from the store section: the SMTP door follows store.smtp_unavailable. */
export function smtpSuppressionOutage(smtpUnavailable: 'defer' | 'cached_keys'): SuppressionOutage {
  return smtpUnavailable === 'cached_keys' ? 'accept' : 'defer';
}

/** The refusal a door gives a suppressed recipient (550 5.7.1, as SparkPost's policy rejection). */
export function suppressedRejection(recipient: string): Rejection {
  return new Rejection(550, '5.7.1', `Recipient address <${recipient}> is on the suppression list`);
}
