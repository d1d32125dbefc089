/**
 * What each door answers while the shared store (Redis) is not answering, as the configuration
 * chooses it: one sentence for the log line that reports the outage, so the operator reads there
 * what clients now get. The doors implement these answers (core/suppression.ts, policy/actions.ts,
 * the SMTP and auth doors with store/cached-keys.ts); this only says them.
 */
import type { Config } from '../config/schema.js';

export function outageAnswers(config: Pick<Config, 'store' | 'policy'>): string {
  const cached = config.store.smtp_unavailable === 'cached_keys';
  return [
    cached
      ? 'SMTP AUTH and sluice auth: keys seen before accepted, others 454 4.7.0'
      : 'SMTP AUTH 454 4.7.0, sluice auth temporary failure (Postfix 454 4.7.0)',
    cached ? 'SMTP RCPT accepted without the suppression check' : 'SMTP RCPT 451 4.3.0',
    'milter 451 4.3.0 at MAIL',
    config.policy.store_unavailable === 'dunno'
      ? 'policy DUNNO (fails open)'
      : 'policy DEFER_IF_PERMIT 4.3.0',
    'HTTP API 503',
    'tracking links redirect, their events wait on disk',
  ].join('; ');
}
