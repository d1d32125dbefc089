/**
 * `sluice config example`: print the documented default configuration (as in contrib/). It shows
 * the defaults only, so a --config or -o given to it is refused rather than ignored: `config show`
 * prints a configuration.
 */
import { renderExample } from '../config/example.js';
import { type Parsed, UsageError } from './command.js';

export async function run(parsed: Parsed): Promise<number> {
  if (parsed.values.config !== undefined || parsed.values.o !== undefined)
    throw new UsageError(
      'config example prints the built-in defaults; to see a configuration, use: sluice config show -c FILE',
    );
  process.stdout.write(renderExample());
  return 0;
}
