/**
 * The grants an API key may hold, named as SparkPost's, plus Sluice's own for the operator
 * console: `console/view` signs in and reads every view, `console/manage` also acts (queue hold,
 * release, flush, bounce; suppressions; API keys and their grants, so it is an administrator's).
 */
export const GRANTS = [
  'smtp/inject',
  'transmissions/modify',
  'transmissions/view',
  'api_keys/manage',
  'message_events/view',
  'suppression_lists/manage',
  'webhooks/modify',
  'webhooks/view',
  'templates/modify',
  'templates/view',
  'recipient_lists/manage',
  'metrics/view',
  'console/view',
  'console/manage',
] as const;

export type Grant = (typeof GRANTS)[number];

export function isGrant(value: string): value is Grant {
  return (GRANTS as readonly string[]).includes(value);
}
