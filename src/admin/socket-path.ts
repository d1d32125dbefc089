/** Where the admin socket of a data dir is: the server listens there, the CLI connects there. */
import path from 'node:path';
import type { Config } from '../config/schema.js';

export function adminSocketPath(config: Config): string | null {
  const socket = config.admin.socket;
  if (socket === null) return null;
  return path.resolve(config.data_dir, socket);
}
