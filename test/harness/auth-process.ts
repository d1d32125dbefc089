/**
 * `sluice auth` as a real child process for tests and bench/auth: startSluiceService('auth', …)
 * under the name its callers know.
 */
import { type SluiceService, startSluiceService } from './service-process.js';

export type SluiceAuthProcess = SluiceService;

export function startSluiceAuth(
  dataDir: string,
  overrides: Record<string, string | number | boolean> = {},
): Promise<SluiceAuthProcess> {
  return startSluiceService('auth', { dataDir, overrides });
}
