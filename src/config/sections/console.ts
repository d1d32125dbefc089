/**
 * The `console` section: the operator console served on listen.http under /console. Who may open
 * it is decided by admin.http_networks (the client address) and an API key holding console/view
 * (to read) or console/manage (to act); a sign-in opens a session held in this process's memory.
 */
import { z } from 'zod';
import { duration } from '../validators.js';

export const consoleSection = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe('Serve the operator console under /console on listen.http (to admin.http_networks only)'),
    session_lifetime: duration
      .prefault('30m')
      .refine((ms) => ms >= 60_000 && ms <= 86_400_000, 'between 1m and 24h')
      .describe(
        'A console sign-in lasts this long, then the key is asked for again (sessions live in memory: a restart signs everyone out)',
      ),
    max_sessions: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('Console sessions held at once; a sign-in beyond this ends the oldest one'),
  })
  .prefault({});

export type ConsoleConfig = z.output<typeof consoleSection>;
