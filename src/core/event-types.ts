/**
 * The event types Sluice records, named as SparkPost's message and track events. Apart from the
 * builders (core/events.ts) so that the command line can list and check them without loading those.
 */
export const EVENT_TYPES = [
  'injection',
  'delivery',
  'delay',
  'bounce',
  'policy_rejection',
  'out_of_band',
  'open',
  'initial_open',
  'click',
  'generation_failure',
  'generation_rejection',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(value: string): value is EventType {
  return (EVENT_TYPES as readonly string[]).includes(value);
}
