/**
 * The `transmissions` section: what SparkPost decides for its customers and a self-hosted MTA lets
 * its operator decide: how far ahead options.start_time may schedule, and where mail sent with
 * options.sandbox goes (by default: nowhere, it never reaches a recipient).
 */
import { z } from 'zod';
import { duration, portProblem } from '../validators.js';

export const transmissionsSection = z
  .strictObject({
    // A bound on a date, not a timer: a scheduled transmission is found by polling the store.
    max_schedule_ahead: duration
      .prefault('72h')
      .describe('How far ahead options.start_time may be (later gets 422). SparkPost allows three days'),
    generation_chunk: z
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(500)
      .describe(
        'Recipients of a stored transmission (scheduled, or on a list) generated between two progress records; an interrupted generation resumes from the last one',
      ),
    sandbox_relay: z
      .string()
      .regex(
        /^(\[[^\]\s]+\]|[^\s:[\]]+)(:\d{1,5})?$/,
        'expected Postfix syntax: "[host]:port" or "host:port"',
      )
      .superRefine((value, ctx) => {
        const problem = portProblem(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .nullable()
      .default(null)
      .describe(
        'Where mail with options.sandbox goes instead of its recipients ("[127.0.0.1]:2600", a test sink). null: it is generated, recorded (injection and delivery events) and dropped, never sent',
      ),
  })
  .prefault({});
