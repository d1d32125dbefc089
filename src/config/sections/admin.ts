/**
 * The `admin` section: the local admin interface the queue tools (`sluice queue ...`) talk to,
 * a unix socket that only the user running Sluice can open (never the public listeners), and
 * whether the operations endpoints (metrics, health) are served on the HTTP listener.
 */
import { z } from 'zod';
import { cidr } from '../validators.js';

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
    http_networks: z
      .array(cidr)
      .default(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'])
      .describe(
        'Clients allowed the operations endpoints; others get 404, since listen.http also serves tracking links to the Internet',
      ),
  })
  .prefault({});

export type AdminConfig = z.output<typeof adminSection>;
