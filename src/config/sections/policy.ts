/** The `policy` section: `sluice policy`, the Postfix SMTP access policy delegation service. */
import { z } from 'zod';
import { listener } from '../validators.js';

export const policySection = z
  .strictObject({
    listen: listener
      .default('127.0.0.1:10040')
      .describe('Policy delegation for Postfix (check_policy_service inet:HOST:PORT). null: off'),
  })
  .prefault({});
