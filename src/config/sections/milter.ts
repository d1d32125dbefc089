/** The `milter` section: `sluice milter`, the Mail Filter service for Postfix and Sendmail (stage 0). */
import { z } from 'zod';

export const milterSection = z
  .strictObject({
    listen: z
      .string()
      .regex(/^(inet:[^\s]+:\d{1,5}|unix:\/\S+)$/, 'expected "inet:host:port" or "unix:/path"')
      .nullable()
      .default('inet:127.0.0.1:8891')
      .describe('Where Postfix/Sendmail connect: "inet:host:port" or "unix:/path". null: off'),
  })
  .prefault({});
