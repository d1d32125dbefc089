/**
 * `sluice store migrate --from embedded --to redis`: copies API keys (their hashes; secrets were
 * never stored) and suppressions from one backend to the other, so a single-node installation can
 * grow into several nodes without re-creating keys. Both sides come from the same configuration:
 * the embedded store under data_dir and the Redis named by store.redis, whatever store.backend
 * says. Safe to run again: a key already present (same id) is left alone, suppressions are upserts
 * that keep their first `created`. Events and rate counters are not moved (history and live state).
 */
import type { Config } from '../config/index.js';
import { openStores } from '../store/open.js';
import type { Stores } from '../store/types.js';
import { type Parsed, UsageError } from './command.js';

const BACKENDS = ['embedded', 'redis'] as const;
type Backend = (typeof BACKENDS)[number];

function backend(value: unknown, option: string): Backend {
  if (typeof value === 'string' && (BACKENDS as readonly string[]).includes(value)) return value as Backend;
  throw new UsageError(`--${option} must be one of: ${BACKENDS.join(', ')}`);
}

function open(config: Config, which: Backend): Promise<Stores> {
  return openStores({ ...config, store: { ...config.store, backend: which } });
}

export async function run(parsed: Parsed): Promise<number> {
  const from = backend(parsed.values.from, 'from');
  const to = backend(parsed.values.to, 'to');
  if (from === to) throw new UsageError('--from and --to name the same backend');
  const config = parsed.config();
  const source = await open(config, from);
  let target: Stores;
  try {
    target = await open(config, to);
  } catch (error) {
    await source.close();
    throw error;
  }
  const counts = { keys_copied: 0, keys_present: 0, suppressions: 0 };
  try {
    for (const key of await source.keys.list()) {
      if (await target.keys.findById(key.id)) {
        counts.keys_present++;
        continue;
      }
      await target.keys.insert(key);
      counts.keys_copied++;
    }
    let cursor: string | undefined;
    do {
      const page = await source.suppressions.list({ limit: 1000, ...(cursor && { cursor }) });
      await target.suppressions.put(page.records);
      counts.suppressions += page.records.length;
      cursor = page.next ?? undefined;
    } while (cursor);
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
  if (parsed.values.json) process.stdout.write(`${JSON.stringify({ from, to, ...counts })}\n`);
  else
    process.stdout.write(
      `${from} -> ${to}: ${counts.keys_copied} keys copied, ${counts.keys_present} already there, ${counts.suppressions} suppressions\n`,
    );
  return 0;
}
