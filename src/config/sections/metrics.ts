/**
 * The `metrics` section: the rollups behind SparkPost's Metrics API (/api/v1/metrics), counted
 * from events as they are written (see docs/metrics.md), and how long they are kept.
 */
import { z } from 'zod';
import { duration } from '../validators.js';

/** The big mailbox providers: SparkPost's "watched domains" are the world's top domains. */
const WATCHED_DOMAINS = [
  'gmail.com',
  'googlemail.com',
  'yahoo.com',
  'ymail.com',
  'aol.com',
  'hotmail.com',
  'outlook.com',
  'live.com',
  'msn.com',
  'icloud.com',
  'me.com',
  'mac.com',
  'comcast.net',
  'att.net',
  'verizon.net',
  'gmx.de',
  'gmx.net',
  'web.de',
  't-online.de',
  'orange.fr',
  'free.fr',
  'laposte.net',
  'yandex.ru',
  'mail.ru',
  'qq.com',
  '163.com',
  'naver.com',
];

const MIN_MINUTE_RETENTION = 2 * 3_600_000;

export const metricsSection = z
  .strictObject({
    rollups: z
      .boolean()
      .default(true)
      .describe(
        'Count events into the Metrics API rollups as they are stored. false: none are kept and /api/v1/metrics answers 422 (for measuring what they cost)',
      ),
    retention: duration
      .prefault('180d')
      .describe(
        'Hour and day rollups, reasons and first-open/click memory are kept this long (SparkPost: 6 months)',
      ),
    minute_retention: duration
      .prefault('7d')
      // A minute must outlive the hour it is folded into (compaction runs two minutes after it).
      .refine(
        (ms) => ms >= MIN_MINUTE_RETENTION,
        'at least 2h: a minute is folded into its hour after the hour ends',
      )
      .describe(
        'Minute rollups are kept this long (at least 2h); a query needing older minute buckets is refused (422: ask for precision hour or day)',
      ),
    watched_domains: z
      .array(z.string().regex(/^[a-z0-9.-]+$/, 'expected a lower-case domain'))
      .default(WATCHED_DOMAINS)
      .describe('Recipient domains /api/v1/metrics/deliverability/watched-domain reports'),
  })
  .superRefine((section, ctx) => {
    if (section.retention < section.minute_retention)
      ctx.addIssue({
        code: 'custom',
        path: ['retention'],
        message:
          'must be at least metrics.minute_retention (hour and day rollups are what older queries read)',
      });
  })
  .prefault({});

export type MetricsConfig = z.output<typeof metricsSection>;
