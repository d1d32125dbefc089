/** `sluice config example`: print the documented default configuration (as in contrib/). */
import { renderExample } from '../config/example.js';
import type { Parsed } from './command.js';

export async function run(_parsed: Parsed): Promise<number> {
  process.stdout.write(renderExample());
  return 0;
}
