/**
 * TransmissionStore on Redis, shared by every node. A transmission is a hash `{tx}:t:<id>` with
 * its `state`, its record as JSON (`body`, whose own state field the hash's overrides) and, until
 * it is generated, its `request`. The sorted set `{tx}:due` holds the transmissions still to
 * generate, scored by their start time while submitted and by their lease end while Generating, so
 * one claim script serves both new work and work whose node died mid-generation. `{tx}:sched`
 * lists scheduled transmissions by creation time. A finished transmission's hash expires after
 * the retention; prune() drops listing entries whose hash is gone. Claim and cancel are Lua
 * scripts that only change `state`, so they never rewrite JSON: a claim and a cancel cannot both
 * win. Durability is Redis's own: run it with appendfsync for scheduled mail (contrib/redis).
 */
import type {
  CancelOutcome,
  TransmissionPatch,
  TransmissionRecord,
  TransmissionState,
  TransmissionStore,
} from '../types.js';
import type { KeyNames, RedisClient } from './client.js';
import { defineScripts, type Scripts } from './scripts.js';

/** KEYS: due. ARGV: now, lease until, limit, hash key base. Returns the ids it leased. */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local key = ARGV[4] .. id
  local state = redis.call('HGET', key, 'state')
  if state == 'submitted' or state == 'Generating' then
    redis.call('HSET', key, 'state', 'Generating')
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out`;

/** KEYS: hash, due. ARGV: id, ttl ms. Returns 'ok', the state that refused, or '' when unknown. */
const CANCEL = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if state ~= 'submitted' then return state end
redis.call('HSET', KEYS[1], 'state', 'Canceled')
redis.call('HDEL', KEYS[1], 'request')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 'ok'`;

export class RedisTransmissionStore implements TransmissionStore {
  private readonly base: string;
  private readonly due: string;
  private readonly sched: string;
  private readonly scripts: Scripts<'claim' | 'cancel'>;

  constructor(
    private readonly redis: RedisClient,
    names: KeyNames,
    /** How long a finished transmission stays readable (events.retention). */
    private readonly retentionMs: number,
  ) {
    this.base = names.base('tx');
    this.due = `${this.base}due`;
    this.sched = `${this.base}sched`;
    this.scripts = defineScripts(redis, { claim: CLAIM, cancel: CANCEL });
  }

  private key(id: string): string {
    return `${this.base}t:${id}`;
  }

  async insert(record: TransmissionRecord, request: string | null): Promise<void> {
    const multi = this.redis.multi();
    const fields: Record<string, string> = { state: record.state, body: JSON.stringify(record) };
    if (request !== null) fields['request'] = request;
    multi.hset(this.key(record.id), fields);
    if (request === null) multi.pexpire(this.key(record.id), this.retentionMs);
    else multi.zadd(this.due, Date.parse(record.start_time ?? record.created), record.id);
    if (record.start_time !== null) multi.zadd(this.sched, Date.parse(record.created), record.id);
    await multi.exec();
  }

  async get(id: string): Promise<TransmissionRecord | null> {
    const [state, body] = await this.redis.hmget(this.key(id), 'state', 'body');
    return body ? { ...(JSON.parse(body) as TransmissionRecord), state: state as TransmissionState } : null;
  }

  async request(id: string): Promise<string | null> {
    return await this.redis.hget(this.key(id), 'request');
  }

  private async many(ids: string[]): Promise<TransmissionRecord[]> {
    if (ids.length === 0) return [];
    const read = this.redis.pipeline();
    for (const id of ids) read.hmget(this.key(id), 'state', 'body');
    const rows = (await read.exec()) ?? [];
    const out: TransmissionRecord[] = [];
    for (const [error, value] of rows) {
      if (error) throw error;
      const [state, body] = value as [string | null, string | null];
      if (body) out.push({ ...(JSON.parse(body) as TransmissionRecord), state: state as TransmissionState });
    }
    return out;
  }

  async listScheduled(filter: { campaign_id?: string; template_id?: string }): Promise<TransmissionRecord[]> {
    const records = await this.many(await this.redis.zrevrange(this.sched, 0, -1));
    return records.filter(
      (r) =>
        (filter.campaign_id === undefined || r.campaign_id === filter.campaign_id) &&
        (filter.template_id === undefined || r.template_id === filter.template_id),
    );
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<TransmissionRecord[]> {
    const ids = (await this.scripts.claim(
      [this.due],
      [now, leaseUntil, limit, `${this.base}t:`],
    )) as string[];
    return await this.many(ids);
  }

  async update(id: string, patch: TransmissionPatch, leaseUntil: number | null): Promise<void> {
    const current = await this.get(id);
    if (!current) return;
    const next = { ...current, ...patch };
    const multi = this.redis.multi();
    multi.hset(this.key(id), { state: next.state, body: JSON.stringify(next) });
    if (next.state === 'Success' || next.state === 'Canceled') {
      multi.hdel(this.key(id), 'request');
      multi.zrem(this.due, id);
      multi.pexpire(this.key(id), this.retentionMs);
    } else if (leaseUntil !== null) multi.zadd(this.due, 'XX', String(leaseUntil), id);
    await multi.exec();
  }

  async cancel(id: string): Promise<CancelOutcome> {
    const outcome = String(await this.scripts.cancel([this.key(id), this.due], [id, this.retentionMs]));
    if (outcome === 'ok') return { ok: true };
    return { ok: false, state: outcome === '' ? null : (outcome as TransmissionState) };
  }

  /** The transmissions not yet generated: few, so the filters below read them all. */
  async pending(): Promise<TransmissionRecord[]> {
    const records = await this.many(await this.redis.zrangebyscore(this.due, '-inf', '+inf'));
    return records.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async submittedInCampaign(campaign: string): Promise<string[]> {
    return (await this.pending())
      .filter((r) => r.state === 'submitted' && r.campaign_id === campaign)
      .map((r) => r.id)
      .sort();
  }

  async inUse(use: { template_id: string } | { recipient_list_id: string }): Promise<boolean> {
    return (await this.pending()).some((r) =>
      'template_id' in use
        ? r.template_id === use.template_id
        : r.recipient_list_id === use.recipient_list_id,
    );
  }

  async prune(before: string): Promise<number> {
    const ids = await this.redis.zrangebyscore(this.sched, '-inf', Date.parse(before));
    if (ids.length === 0) return 0;
    const check = this.redis.pipeline();
    for (const id of ids) check.hget(this.key(id), 'state');
    const rows = (await check.exec()) ?? [];
    const states = ids.map((_, i) => rows[i]?.[1] as string | null);
    const finished = ids.filter((_, i) => states[i] === 'Success' || states[i] === 'Canceled');
    // Expired already (its TTL ran out) or finished before the retention: the listing forgets it.
    const gone = ids.filter((_, i) => states[i] === null || finished.includes(ids[i]!));
    if (finished.length > 0) await this.redis.del(...finished.map((id) => this.key(id)));
    if (gone.length > 0) await this.redis.zrem(this.sched, ...gone);
    return finished.length;
  }
}
