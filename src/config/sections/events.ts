/** The `events` section: how long the embedded store keeps events. */
import { z } from 'zod';
import { duration } from '../validators.js';

export const eventsSection = z
  .strictObject({
    retention: duration
      .prefault('30d')
      .describe(
        'Events older than this are deleted from the event store (checked hourly). events.jsonl is left to logrotate (contrib/logrotate)',
      ),
  })
  .prefault({});
