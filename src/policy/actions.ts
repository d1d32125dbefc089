/**
 * Core's policy decisions in Postfix's words: the `action=` each decision gets under the configured
 * replies, and the translation of a request's attributes into a core PolicyQuery. Nothing is
 * decided here; this is the dictionary between the two.
 */
import type { PolicyConfig } from '../config/sections/policy.js';
import type { PolicyDecision, PolicyQuery, PolicyStage } from '../core/policy.js';
import { suppressedRejection } from '../core/suppression.js';
import type { PolicyAttributes } from './wire.js';

export const STORE_DEFER_ACTION = 'DEFER_IF_PERMIT 4.3.0 Policy store unavailable, try again later';
/** What Postfix itself answers when its policy service misbehaves (smtpd_policy_service_default_action). */
export const MALFORMED_ACTION = 'DEFER_IF_PERMIT 4.3.5 Malformed policy request';

export function actionFor(decision: PolicyDecision, config: PolicyConfig): string {
  switch (decision.kind) {
    case 'pass':
      return decision.authenticated ? 'DUNNO' : config.unauthenticated_action;
    case 'unauthenticated':
      return config.unauthenticated_action;
    case 'key-rejected':
      return config.key_rejected_action;
    case 'over-limit':
      return config.over_limit_action.replaceAll('{scope}', decision.exceeded.scope);
    case 'suppressed': {
      const refusal = suppressedRejection(decision.recipient);
      return `REJECT ${refusal.enhanced} ${refusal.text}`;
    }
    case 'unavailable':
      return config.store_unavailable === 'defer' ? STORE_DEFER_ACTION : 'DUNNO';
  }
}

/** True for actions that refuse the mail (so core need not hold quota for it). */
export function isRefusal(action: string): boolean {
  return /^(REJECT|DEFER|DEFER_IF_PERMIT|DISCARD|[45]\d\d)\b/.test(action);
}

const STAGES: Record<string, PolicyStage> = { RCPT: 'recipient', 'END-OF-MESSAGE': 'end-of-message' };

/** A Postfix request as a core query; `fallbackTransaction` names it when Postfix sent no instance. */
export function queryFrom(attributes: PolicyAttributes, fallbackTransaction: string): PolicyQuery {
  const get = (name: string) => {
    const value = attributes.get(name);
    return value === undefined || value === '' ? null : value;
  };
  const count = Number.parseInt(attributes.get('recipient_count') ?? '0', 10);
  return {
    stage: STAGES[attributes.get('protocol_state') ?? ''] ?? 'other',
    transaction: get('instance') ?? fallbackTransaction,
    keyId: get('sasl_username'),
    clientAddress: get('client_address'),
    sender: get('sender'),
    recipientCount: Number.isFinite(count) && count > 0 ? count : 0,
    recipient: get('recipient'),
  };
}
