/** The `auth` section: `sluice auth`, the Dovecot SASL service Postfix asks to check API keys. */
import { z } from 'zod';
import { listener } from '../validators.js';

export const authSection = z
  .strictObject({
    listen: listener
      .default('127.0.0.1:12345')
      .describe('Dovecot auth protocol for Postfix (smtpd_sasl_path = inet:HOST:PORT). null: off'),
  })
  .prefault({});
