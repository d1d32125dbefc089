/**
 * MetricsStore on Redis. The event store's outbox hands each chunk of events here too: it is
 * aggregated in memory (core/metrics/rollup.ts) and added by one Lua script, made idempotent by
 * its own marker per outbox chunk, as the events' append is: a chunk re-sent after a failure or
 * a crash adds nothing twice. The scripts are in metrics-scripts.ts.
 *
 * Layout (all under the `{mx}` hash tag, so every script is valid on a Cluster):
 *   d                      hash: key (combination or projection) → latest minute seen (the registry)
 *   dv                     a version bumped whenever the registry gains a key
 *   w                      the compaction watermark (core/metrics/coarse.ts)
 *   r:<size>:<bucket>      hash: key ('' = TOTAL) → counters "n,n,…" (definitions.ts order)
 *   x:<kind>:<size>:<bucket>:<tag>  hash: "<key>\t<class>\t<reason>" → "n0,n1" (tag: f combinations,
 *                          t TOTAL, 1-6 the projection keeping that dimension)
 *   f:<message_id>         hash: rcpt → flags already counted; "rcpt\tlink" → 1 (unique counts)
 *   seg:<segment>:<chunk>  a chunk already added (kept one day)
 * size is the bucket length in minutes (1, 60, 1440), bucket its start in minutes since the epoch.
 * The hot path writes minute hashes; COMPACT folds each finished hour into hour and day hashes.
 * Bucket hashes expire by themselves once past their resolution's retention (so a minute no
 * running `sluice serve` folded within metrics.minute_retention is lost to hour and day rows);
 * first-engagement memory expires `retention` after the message's last engagement; prune() trims
 * the registry.
 *
 * Queries run as Lua scripts that sum inside Redis and return one line per group, so what
 * crosses the network is the answer, not the rows.
 */
import { randomUUID } from 'node:crypto';
import type { SluiceEvent } from '../../core/events.js';
import { nextFoldable } from '../../core/metrics/coarse.js';
import { COUNTER_COUNT } from '../../core/metrics/definitions.js';
import { DEFAULT_RETENTION, horizons, type MetricsRetention } from '../../core/metrics/retention.js';
import {
  aggregateEvents,
  DIMENSIONS,
  keyKind,
  parseDimsKey,
  REASON_KINDS,
  RESOLUTIONS,
  type ReasonKind,
  type RollupBatch,
  TOTAL,
} from '../../core/metrics/rollup.js';
import type {
  MetricsCoverage,
  MetricsDimsEntry,
  MetricsGrouping,
  MetricsRefs,
  MetricsSpan,
  MetricsStore,
  ReasonSum,
} from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { APPLY, COMPACT, REASONS, SUM } from './metrics-scripts.js';
import { defineScripts, type Scripts } from './scripts.js';

const FOLD_STEP = 24;

export class RedisMetricsStore implements MetricsStore {
  private readonly scripts: Scripts<'apply' | 'compact' | 'sum' | 'reasons'>;
  private readonly base: string;
  private cache: { version: string; entries: MetricsDimsEntry[] } | null = null;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
    private readonly retention: MetricsRetention = DEFAULT_RETENTION,
    private readonly clock: () => number = Date.now,
  ) {
    this.base = names.base('mx');
    this.scripts = defineScripts(redis, { apply: APPLY, compact: COMPACT, sum: SUM, reasons: REASONS });
  }

  /** A chunk of the event outbox, added once however often it is sent (marker: segment and chunk). */
  applyEvents(marker: string, events: readonly SluiceEvent[]): Promise<void> {
    return this.applyMarked(marker, aggregateEvents(events));
  }

  async apply(batch: RollupBatch): Promise<void> {
    await this.applyMarked(`apply:${randomUUID()}`, batch);
  }

  /** WRITE_HEAD's arguments. */
  private head(now: number): Array<string | number> {
    const oldest = horizons(now, this.retention);
    return [
      this.base,
      this.retention.minuteMs,
      this.retention.retentionMs,
      oldest.minute,
      oldest.hour,
      oldest.day,
      Math.floor(now / 3_600_000) * 60,
    ];
  }

  private async applyMarked(marker: string, batch: RollupBatch): Promise<void> {
    const args = this.head(this.clock());
    args.push(batch.rows.size);
    for (const r of batch.rows.values()) args.push(r.minute, r.dims, r.counts.join(','));
    args.push(batch.reasons.size);
    for (const r of batch.reasons.values())
      args.push(REASON_KINDS[r.kind], r.minute, `${r.dims}\t${r.cls}\t${r.reason}`, r.n.join(','));
    args.push(batch.dims.size);
    for (const [key, minute] of batch.dims) args.push(key, minute);
    args.push(batch.firsts.length);
    for (const f of batch.firsts) args.push(f.minute, f.dims, f.message, f.rcpt, f.bits, f.link);
    await this.scripts.apply([`${this.base}seg:${marker}`], args);
  }

  async dimensions(): Promise<readonly MetricsDimsEntry[]> {
    const version = (await this.redis.get(`${this.base}dv`)) ?? '0';
    if (this.cache?.version === version) return this.cache.entries;
    const all = await this.redis.hgetall(`${this.base}d`);
    const entries: MetricsDimsEntry[] = [];
    for (const key of Object.keys(all)) {
      const kind = keyKind(key);
      if (kind !== 'total') entries.push({ ref: key, kind, dims: parseDimsKey(key) });
    }
    this.cache = { version, entries };
    return entries;
  }

  async sum(
    spans: readonly MetricsSpan[],
    refs: MetricsRefs,
    grouping: MetricsGrouping,
    counters?: readonly number[],
  ): Promise<Map<string, number[]>> {
    const out = new Map<string, number[]>();
    const keys = Array.isArray(refs) ? refs : [TOTAL];
    if (keys.length === 0 || spans.length === 0 || counters?.length === 0) return out;
    const flat = (await this.scripts.sum(
      [`${this.base}d`],
      [this.base, grouping, counters ? counters.join(',') : '', ...spanArgs(spans), ...keys],
    )) as string[];
    for (let i = 0; i < flat.length; i += 2) {
      const row = new Array<number>(COUNTER_COUNT).fill(0);
      flat[i + 1]!.split(',').forEach((n, j) => {
        if (j < COUNTER_COUNT) row[j] = Number(n);
      });
      out.set(flat[i]!, row);
    }
    return out;
  }

  async reasons(
    kind: ReasonKind,
    spans: readonly MetricsSpan[],
    refs: MetricsRefs,
    byRef: boolean,
  ): Promise<ReasonSum[]> {
    const keys = refs === null ? [] : refs === 'total' ? [TOTAL] : refs;
    if ((Array.isArray(refs) && refs.length === 0) || spans.length === 0) return [];
    // Which reason hashes hold these keys (metrics-scripts.ts TAGS); a call asks for one kind.
    const first = refs === null ? 'full' : refs === 'total' ? 'total' : keyKind(refs[0]!);
    const tag = first === 'full' ? 'f' : first === 'total' ? 't' : String(DIMENSIONS.indexOf(first) + 1);
    const flat = (await this.scripts.reasons(
      [`${this.base}d`],
      [this.base, `${REASON_KINDS[kind]}:${byRef ? 1 : 0}:${tag}`, '', ...spanArgs(spans), ...keys],
    )) as string[];
    const out: ReasonSum[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const parts = flat[i]!.split('\t');
      const ref = byRef ? parts.shift()! : null;
      const [cls = '0', ...reason] = parts;
      const [n0 = 0, n1 = 0] = flat[i + 1]!.split(',').map(Number);
      out.push({ ref, cls: Number(cls), reason: reason.join('\t'), n: [n0, n1] });
    }
    return out;
  }

  async coverage(now: number): Promise<MetricsCoverage> {
    const folded = await this.redis.get(`${this.base}w`);
    return {
      oldest: horizons(now, this.retention),
      folded: folded === null ? Math.floor(now / 3_600_000) * 60 : Number(folded),
    };
  }

  async compact(now: number): Promise<number> {
    let done = 0;
    for (; done < FOLD_STEP; done++) {
      const w = await this.redis.get(`${this.base}w`);
      const hour = w === null ? null : nextFoldable(Number(w), now);
      if (hour === null) break;
      await this.scripts.compact([`${this.base}w`], [...this.head(now), hour]);
    }
    return done;
  }

  /** Bucket hashes expire by themselves: this trims the registry of keys gone quiet. */
  async prune(now: number): Promise<number> {
    const { oldest } = await this.coverage(now);
    const all = await this.redis.hgetall(`${this.base}d`);
    const gone = Object.entries(all)
      .filter(([, last]) => Number(last) < oldest.hour)
      .map(([key]) => key);
    if (gone.length === 0) return 0;
    await this.redis.hdel(`${this.base}d`, ...gone);
    await this.redis.incr(`${this.base}dv`);
    return gone.length;
  }
}

function spanArgs(spans: readonly MetricsSpan[]): Array<string | number> {
  const out: Array<string | number> = [spans.length];
  for (const s of spans) out.push(RESOLUTIONS[s.res], s.from, s.to);
  return out;
}
