/**
 * `--default NAME=VALUE` for `sluice keys create|update`: the key's message defaults
 * (open_tracking, click_tracking, transactional as true/false; ip_pool as a name). Validation of
 * the values themselves is core's (KeyService), so the CLI and the HTTP API agree.
 */
import type { KeyDefaults } from '../store/types.js';
import { list, UsageError } from './command.js';

const FLAGS = new Set(['open_tracking', 'click_tracking', 'transactional']);

export function parseKeyDefaults(value: unknown): KeyDefaults | undefined {
  const items = list(value);
  if (items.length === 0) return undefined;
  const out: Record<string, unknown> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = eq > 0 ? item.slice(0, eq) : '';
    const raw = item.slice(eq + 1);
    if (FLAGS.has(name)) {
      if (raw !== 'true' && raw !== 'false') throw new UsageError(`--default ${name} must be true or false`);
      out[name] = raw === 'true';
    } else if (name === 'ip_pool') {
      out[name] = raw;
    } else {
      throw new UsageError(
        `--default expects NAME=VALUE with NAME one of open_tracking, click_tracking, transactional, ip_pool; got "${item}"`,
      );
    }
  }
  return out as KeyDefaults;
}
