/**
 * The `admin` section: the local admin interface the queue tools (`sluice queue ...`) talk to,
 * a unix socket that only the user running Sluice can open (never the public listeners), and
 * whether the operations endpoints (metrics, health) are served on the HTTP listener.
 */
import { z } from 'zod';

export const adminSection = z
  .strictObject({
    socket: z
      .string()
      .min(1)
      .nullable()
      .default('admin/admin.sock')
      .describe(
        'Unix socket of the admin interface, relative to data_dir (its directory is 0700). null: off',
      ),
    http_endpoints: z
      .boolean()
      .default(true)
      .describe('Serve /metrics (Prometheus), /healthz and /readyz on listen.http'),
  })
  .prefault({});

export type AdminConfig = z.output<typeof adminSection>;
