/**
 * The `pickup` section: local submission, the door `sluice sendmail` (installed as
 * /usr/sbin/sendmail) uses to hand mail to `sluice serve`, as Postfix's maildrop and pickup.
 */
import { z } from 'zod';

export const pickupSection = z
  .strictObject({
    dir: z
      .string()
      .min(1)
      .nullable()
      .default('pickup')
      .describe(
        'Directory of the local submission socket (relative to data_dir, or absolute such as /run/sluice/pickup), made mode 1733 so any local user may submit: local users must be able to reach it (data_dir 0711, or a directory outside it). null: off',
      ),
    authorized_users: z
      .array(z.string().regex(/^(\*|\d+|[A-Za-z0-9._-]+)$/, 'expected "*", a user name or a numeric uid'))
      .default(['*'])
      .describe(
        'Local users who may submit with `sluice sendmail` (names or uids; "*": everyone, as Postfix\'s authorized_submit_users)',
      ),
  })
  .prefault({});

export type PickupConfig = z.output<typeof pickupSection>;
