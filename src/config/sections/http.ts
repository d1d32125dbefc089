/** The `http` and `webhooks` sections: the SparkPost-shaped HTTP API and webhook delivery. */
import { z } from 'zod';
import { duration, size, timerDuration } from '../validators.js';

export const httpSection = z
  .strictObject({
    max_body: size().prefault(20_971_520).describe('Largest HTTP request body, in bytes (larger gets 413)'),
    rate_limit: z
      .number()
      .int()
      .min(0)
      .default(1200)
      .describe('API requests one key may make per http.rate_window (more get 429). 0: unlimited'),
    rate_window: duration.prefault('1m').describe('Window of http.rate_limit'),
    max_recipients: z
      .number()
      .int()
      .positive()
      .default(10_000)
      .describe('Recipients per transmission (more get 422)'),
  })
  .prefault({});

export const webhooksSection = z
  .strictObject({
    batch_interval: timerDuration
      .prefault('1s')
      .describe('Events are gathered this long (or up to webhooks.max_batch) before a batch is sent'),
    max_batch: z.number().int().positive().default(500).describe('Events per webhook batch, at most'),
    retry_schedule: z
      .array(timerDuration)
      .min(1)
      .prefault(['30s', '1m', '2m', '5m', '10m', '20m', '30m', '1h'])
      .describe('Waits between attempts of a batch the target did not accept (the last one repeats)'),
    max_age: duration
      .prefault('8h')
      .describe('A batch still not accepted after this long is dropped (as SparkPost)'),
    timeout: timerDuration
      .prefault('10s')
      .describe('Give up waiting for a webhook target to answer after this long'),
    allow_private_targets: z
      .boolean()
      .default(false)
      .describe(
        'Allow webhook targets on loopback, private and link-local networks (off: a key cannot make Sluice post inside your network)',
      ),
  })
  .prefault({});
