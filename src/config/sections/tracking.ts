/** The `tracking` section: open and click tracking (rewriting, signed tokens, the tracking server). */
import { z } from 'zod';
import { cidr, duration, size } from '../validators.js';

const signingKey = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,32}$/, 'expected 1-32 letters, digits, ".", "_" or "-"')
    .describe('Key id, carried inside every token so keys can rotate'),
  secret: z.string().min(16, 'must be at least 16 characters').describe('HMAC secret; keep it private'),
});

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
    base_url: z
      .url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://t.example.com' })
      .default('http://127.0.0.1:8080')
      .describe('Public address of the tracking server; links become BASE/f/TOKEN, pixels BASE/q/TOKEN'),
    keys: z
      .array(signingKey)
      .default([])
      .describe(
        'Token signing keys [{id, secret}]: the first signs, all verify (rotation). []: one generated into data_dir/tracking',
      ),
    link_ttl: duration.prefault('365d').describe('Tracked links and pixels stop working after this long'),
    trusted_proxies: z
      .array(cidr)
      .default([])
      .describe('X-Forwarded-For is believed only from these networks (a reverse proxy in front)'),
    max_html_part_size: size()
      .prefault(5_242_880)
      .describe('Largest text part rewritten, in bytes (it is held in memory); larger parts pass untracked'),
  })
  .prefault({});
