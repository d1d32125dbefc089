/**
 * The `bounces` section: extra classification rules (in front of the built-in table in
 * delivery/bounce-rules.ts), whether the envelope sender gets an RFC 3464 DSN, and whether hard
 * bounces (classes 10, 30, 90) put the recipient on the suppression list.
 */
import { z } from 'zod';
import { BOUNCE_CLASSES } from '../../delivery/bounce-rules.js';

const pattern = z
  .string()
  .max(1000)
  .refine((source) => {
    try {
      new RegExp(source, 'i');
      return true;
    } catch {
      return false;
    }
  }, 'not a valid regular expression');

const rule = z.strictObject({
  code: pattern.optional().describe('Basic reply code pattern, e.g. "^5"; "" when the text has none'),
  enhanced: pattern.optional().describe('Enhanced status code pattern, e.g. "^5\\.1\\.1$"'),
  text: pattern.optional().describe('Pattern on the whole reply text, case-insensitive'),
  class: z
    .number()
    .int()
    .refine(
      (c) => BOUNCE_CLASSES.includes(c),
      `expected a SparkPost bounce class: ${BOUNCE_CLASSES.join(', ')}`,
    )
    .describe('SparkPost bounce class'),
});

export const bouncesSection = z
  .strictObject({
    dsn: z
      .boolean()
      .default(true)
      .describe('Send an RFC 3464 DSN to the envelope sender of a bounced message; false: events only'),
    suppress_hard_bounces: z
      .boolean()
      .default(true)
      .describe('Hard bounces (classes 10, 30, 90) add the recipient to the suppression list'),
    rules: z
      .array(rule)
      .prefault([])
      .describe('Classification rules tried before the built-in table; each: {code, enhanced, text, class}'),
  })
  .prefault({});

export type BouncesConfig = z.output<typeof bouncesSection>;
