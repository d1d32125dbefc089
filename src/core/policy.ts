/**
 * Access policy for mail handed to an MTA in front of Sluice (stage 0): is the authenticated API key
 * still active and allowed to inject (`smtp/inject`, valid_ips), and is the sender within its
 * limits? Answers are decisions, not protocol replies: the door turns them into its own words
 * (a Postfix `action=`, an SMTP reply). Transactions are named by an id the door picks (Postfix's
 * `instance`); `recipient` holds quota, `end-of-message` commits it, `abandon` releases it.
 * A failing store gives an `unavailable` decision, never an exception. With a suppression store, a
 * suppressed recipient is refused at `recipient` (its type from the key's `transactional` default:
 * the X-MSYS-API header comes later, in the data).
 */
import type { ApiKeyRecord, SuppressionStore } from '../store/types.js';
import { type LimitExceeded, type LimitSubject, type Limits, senderDomain } from './limits.js';
import { keyStillInjects } from './smtp-login.js';
import { findSuppression } from './suppression.js';

export type PolicyStage = 'recipient' | 'end-of-message' | 'other';

export interface PolicyQuery {
  stage: PolicyStage;
  /** Names the mail transaction; null when the client sent none. */
  transaction: string | null;
  /** The authenticated key id (SASL user name), null when the client did not authenticate. */
  keyId: string | null;
  clientAddress: string | null;
  sender: string | null;
  /** Recipients accepted in the transaction (meaningful at end-of-message). */
  recipientCount: number;
  /** The recipient being asked about (stage `recipient`). */
  recipient?: string | null;
}

export type PolicyDecision =
  | { kind: 'pass'; authenticated: boolean }
  | { kind: 'unauthenticated' }
  | { kind: 'key-rejected'; reason: 'unknown' | 'grant' | 'ip' }
  | { kind: 'over-limit'; exceeded: LimitExceeded }
  | { kind: 'suppressed'; recipient: string }
  | { kind: 'unavailable'; error: Error };

export interface PolicyOptions {
  /** True when unauthenticated mail is refused anyway: limits are then not consulted for it. */
  refuseUnauthenticated: boolean;
  /**
   * When set, end-of-message answers at once and commits in the background (with a shared store,
   * the commit then leaves in the next write instead of costing the client a round trip). The
   * limits stay exact: the message was held at `recipient`, and the commit turns the holds into
   * usage in one atomic step. A commit that fails (the store went away at that instant) is
   * reported here and leaves the message held until the reservation expires, so it counts for
   * reservation_timeout rather than its whole window. Without it, a failed commit is `unavailable`.
   */
  onBackgroundCommitError?: (error: Error, transaction: string) => void;
}

export class PolicyService {
  /** Background commits not yet answered by the store (see settle). */
  private readonly committing = new Set<Promise<void>>();

  constructor(
    private readonly findKey: (id: string) => Promise<ApiKeyRecord | null>,
    private readonly limits: Limits,
    private readonly options: PolicyOptions,
    private readonly suppressions: SuppressionStore | null = null,
  ) {}

  async decide(query: PolicyQuery): Promise<PolicyDecision> {
    try {
      return await this.decideOrThrow(query);
    } catch (error) {
      return { kind: 'unavailable', error: error as Error };
    }
  }

  /** Resolves once every background commit has been answered (call before closing the store). */
  async settle(): Promise<void> {
    await Promise.all(this.committing);
  }

  /** The transaction ended without end-of-message: release what it held. Never throws. */
  async abandon(transaction: string): Promise<Error | null> {
    try {
      await this.limits.release(transaction);
      return null;
    } catch (error) {
      return error as Error;
    }
  }

  private async decideOrThrow(query: PolicyQuery): Promise<PolicyDecision> {
    const subject = {
      key: query.keyId,
      senderDomain: senderDomain(query.sender),
      clientAddress: query.clientAddress,
    };
    if (query.stage === 'end-of-message') {
      // Whatever was decided at RCPT was decided; now the recipients that were accepted count.
      if (query.transaction) {
        const onError = this.options.onBackgroundCommitError;
        if (!onError) await this.limits.commit(query.transaction, subject, query.recipientCount);
        else this.commitInBackground(query.transaction, subject, query.recipientCount, onError);
      }
      return { kind: 'pass', authenticated: query.keyId !== null };
    }
    let key: ApiKeyRecord | null = null;
    if (query.keyId !== null) {
      key = await this.findKey(query.keyId);
      const refused = this.checkKey(key, query.clientAddress);
      if (refused) return refused;
    } else if (this.options.refuseUnauthenticated) {
      return { kind: 'unauthenticated' };
    }
    if (query.stage !== 'recipient') return { kind: 'pass', authenticated: query.keyId !== null };
    // The suppression lookup and the reservation go out together (one round trip to a shared store).
    // A suppressed recipient still answers `suppressed` first; the one recipient it held stays held
    // until the transaction commits or is released (commit counts only what was accepted), a
    // transient over-count the size of one recipient, the price of not waiting for the lookup.
    const transactional = key?.defaults?.transactional ?? false;
    const [suppressed, verdict] = await Promise.all([
      query.recipient && this.suppressions
        ? findSuppression(this.suppressions, query.recipient, transactional)
        : null,
      query.transaction ? this.limits.reserveRecipient(query.transaction, subject) : null,
    ]);
    if (suppressed && query.recipient) return { kind: 'suppressed', recipient: query.recipient };
    if (verdict && !verdict.ok) return { kind: 'over-limit', exceeded: verdict.exceeded };
    return { kind: 'pass', authenticated: query.keyId !== null };
  }

  private commitInBackground(
    transaction: string,
    subject: LimitSubject,
    recipients: number,
    onError: (error: Error, transaction: string) => void,
  ): void {
    const done: Promise<void> = this.limits
      .commit(transaction, subject, recipients)
      .catch((error: unknown) => onError(error as Error, transaction))
      .finally(() => this.committing.delete(done));
    this.committing.add(done);
  }

  private checkKey(key: ApiKeyRecord | null, clientAddress: string | null): PolicyDecision | null {
    const refusal = keyStillInjects(key, clientAddress);
    return refusal ? { kind: 'key-rejected', reason: refusal } : null;
  }
}
