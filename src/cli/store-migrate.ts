/**
 * `sluice store migrate --from embedded --to redis`: copies API keys (their hashes; secrets were
 * never stored), suppressions, stored templates, recipient lists and the transmissions still to
 * generate (scheduled ones, with their requests) from one backend to the other, so a single-node
 * installation can grow into several nodes without re-creating keys or losing scheduled mail. Run
 * it while `sluice serve` is stopped. Both sides come from the same configuration: the embedded
 * store under data_dir and the Redis named by store.redis, whatever store.backend says. Safe to
 * run again: a key, template, list or transmission already present (same id) is left alone,
 * suppressions are upserts that keep their first `created`. Events, the Metrics API's rollups
 * (counted from those events), rate counters and finished transmissions are not moved (history
 * and live state): metrics on the new backend count from the first event written to it.
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
  const counts = {
    keys_copied: 0,
    keys_present: 0,
    suppressions: 0,
    templates_copied: 0,
    templates_present: 0,
    lists_copied: 0,
    lists_present: 0,
    transmissions_copied: 0,
    transmissions_present: 0,
  };
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
    await copyContent(source, target, counts);
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
  if (parsed.values.json) process.stdout.write(`${JSON.stringify({ from, to, ...counts })}\n`);
  else
    process.stdout.write(
      `${from} -> ${to}: ${counts.keys_copied} keys copied, ${counts.keys_present} already there, ${counts.suppressions} suppressions, ` +
        `${counts.templates_copied} templates, ${counts.lists_copied} recipient lists, ${counts.transmissions_copied} scheduled transmissions copied\n`,
    );
  return 0;
}

type ContentCounts = Record<
  | 'templates_copied'
  | 'templates_present'
  | 'lists_copied'
  | 'lists_present'
  | 'transmissions_copied'
  | 'transmissions_present',
  number
>;

/** Templates, recipient lists and the transmissions still to generate (with their requests). */
async function copyContent(source: Stores, target: Stores, counts: ContentCounts): Promise<void> {
  for (const template of await source.templates.list()) {
    if (await target.templates.insert(template)) counts.templates_copied++;
    else counts.templates_present++;
  }
  for (const meta of await source.recipientLists.list()) {
    const recipients = (await source.recipientLists.recipients(meta.id)) ?? [];
    if (await target.recipientLists.insert(meta, recipients)) counts.lists_copied++;
    else counts.lists_present++;
  }
  for (const record of await source.transmissions.pending()) {
    if (await target.transmissions.get(record.id)) {
      counts.transmissions_present++;
      continue;
    }
    await target.transmissions.insert(record, await source.transmissions.request(record.id));
    counts.transmissions_copied++;
  }
}
