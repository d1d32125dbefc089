/**
 * What recording one click costs in the embedded event store, in this process, split into its
 * two steps as the tracking route does them: the injection lookup (search by message id and
 * recipient) and the append (SQLite insert plus a synchronous write to events.jsonl). Tells
 * whether the per-click write is what limits the endpoint. Median over rounds of operations/s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { configSchema } from '../src/config/schema.js';
import { engagementEvent, injectionEvent } from '../src/core/events.js';
import { openStores } from '../src/store/open.js';
import { benchFacts, benchMessages } from './tracking-tokens.js';

export interface StoreFigures {
  step: string;
  rates: number[];
}

export async function storeBench(
  rounds: number,
  clicks: number,
  log: (s: string) => void,
): Promise<StoreFigures[]> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-store-'));
  const stores = await openStores(configSchema.parse({ data_dir: dataDir }));
  try {
    const messages = benchMessages();
    for (const { messageId, rcpt } of messages)
      stores.events.append(injectionEvent(benchFacts(messageId), rcpt));
    const client = { user_agent: 'bench', ip_address: '127.0.0.1' };
    const link = { target_link_url: 'https://shop.example/p/1', target_link_name: 'p1' };
    const lookup = (i: number) => {
      const { messageId, rcpt } = messages[i % messages.length]!;
      return stores.events.search({ types: ['injection'], messageId, recipient: rcpt, limit: 1 });
    };
    const append = (i: number, injection: Awaited<ReturnType<typeof lookup>>[number] | null) => {
      const { messageId, rcpt } = messages[i % messages.length]!;
      stores.events.append(
        engagementEvent('click', { message_id: messageId, rcpt_to: rcpt }, injection, client, link),
      );
    };
    const steps: [string, (i: number) => Promise<void>][] = [
      ['injection lookup (search)', async (i) => void (await lookup(i))],
      ['append (SQLite insert + events.jsonl write)', async (i) => append(i, null)],
      ['both, as one click', async (i) => append(i, (await lookup(i))[0] ?? null)],
    ];
    const figures = steps.map(([step]) => ({ step, rates: [] as number[] }));
    for (let round = 0; round < rounds; round++) {
      for (const [s, [step, run]] of steps.entries()) {
        const started = performance.now();
        for (let i = 0; i < clicks; i++) await run(i);
        const rate = clicks / ((performance.now() - started) / 1000);
        figures[s]!.rates.push(rate);
        log(`store round ${round + 1}/${rounds}: ${step} ${rate.toFixed(0)}/s`);
      }
    }
    return figures;
  } finally {
    await stores.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
