/** Where the pickup directory of a configuration is: the server makes it, `sluice sendmail` finds it. */
import path from 'node:path';
import type { Config } from '../config/schema.js';

export function pickupDir(config: Config): string | null {
  return config.pickup.dir === null ? null : path.resolve(config.data_dir, config.pickup.dir);
}
