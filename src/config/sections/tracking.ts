/** The `tracking` section: open and click tracking (rewriting, signed tokens, the tracking server). */
import { z } from 'zod';

export const trackingSection = z
  .strictObject({
    open: z
      .boolean()
      .default(false)
      .describe('Open tracking when neither X-MSYS-API nor the key says (SparkPost SMTP default: off)'),
    click: z
      .boolean()
      .default(false)
      .describe('Click tracking when neither X-MSYS-API nor the key says (off)'),
  })
  .prefault({});
