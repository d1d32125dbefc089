/**
 * TransmissionStore on the embedded SQLite database. A row per transmission: the record as JSON,
 * the columns queries filter on, `due` (the start time of a submitted transmission, the lease end
 * of one being generated, NULL once finished) and `request` (what generation needs, dropped once
 * generated). A transmission waiting to be generated is accepted: its insert is committed with
 * synchronous = FULL, so it outlives a power cut, not only a crash of the process.
 * claimDue and cancel run in immediate transactions: a claim and a cancel cannot both win.
 */
import type Database from 'better-sqlite3';
import type {
  CancelOutcome,
  TransmissionPatch,
  TransmissionRecord,
  TransmissionState,
  TransmissionStore,
} from '../types.js';

const FINISHED: readonly TransmissionState[] = ['Success', 'Canceled'];

interface Row {
  id: string;
  state: TransmissionState;
  body: string;
}

export class EmbeddedTransmissionStore implements TransmissionStore {
  private readonly claim: (now: number, leaseUntil: number, limit: number) => TransmissionRecord[];
  private readonly cancelOne: (id: string) => CancelOutcome;

  constructor(private readonly db: Database.Database) {
    const due = db.prepare<[number, number], Row>(
      `SELECT id, state, body FROM transmissions
       WHERE due IS NOT NULL AND due <= ? AND state IN ('submitted', 'Generating') ORDER BY due LIMIT ?`,
    );
    const lease = db.prepare<[string, number, string]>(
      `UPDATE transmissions SET state = 'Generating', body = ?, due = ? WHERE id = ?`,
    );
    const claim = db.transaction((now: number, leaseUntil: number, limit: number) =>
      due.all(now, limit).map((row) => {
        const record = { ...(JSON.parse(row.body) as TransmissionRecord), state: 'Generating' as const };
        lease.run(JSON.stringify(record), leaseUntil, row.id);
        return record;
      }),
    );
    this.claim = (now, leaseUntil, limit) => claim.immediate(now, leaseUntil, limit);
    const read = db.prepare<[string], Row>('SELECT id, state, body FROM transmissions WHERE id = ?');
    const canceled = db.prepare<[string, string]>(
      `UPDATE transmissions SET state = 'Canceled', body = ?, due = NULL, request = NULL WHERE id = ?`,
    );
    const cancel = db.transaction((id: string): CancelOutcome => {
      const row = read.get(id);
      if (!row) return { ok: false, state: null };
      if (row.state !== 'submitted') return { ok: false, state: row.state };
      canceled.run(JSON.stringify({ ...JSON.parse(row.body), state: 'Canceled' }), id);
      return { ok: true };
    });
    this.cancelOne = (id) => cancel.immediate(id);
  }

  async insert(record: TransmissionRecord, request: string | null): Promise<void> {
    const row = {
      id: record.id,
      state: record.state,
      campaign_id: record.campaign_id,
      template_id: record.template_id,
      recipient_list_id: record.recipient_list_id,
      scheduled: record.start_time === null ? 0 : 1,
      created: record.created,
      due: request === null ? null : Date.parse(record.start_time ?? record.created),
      body: JSON.stringify(record),
      request,
    };
    const insert = () =>
      this.db
        .prepare(
          `INSERT INTO transmissions (id, state, campaign_id, template_id, recipient_list_id, scheduled, created, due, body, request)
           VALUES (@id, @state, @campaign_id, @template_id, @recipient_list_id, @scheduled, @created, @due, @body, @request)`,
        )
        .run(row);
    if (request === null) {
      insert();
      return;
    }
    // Accepted mail waiting for its time: fsynced like the spool, not only crash-safe.
    this.db.pragma('synchronous = FULL');
    try {
      insert();
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  async get(id: string): Promise<TransmissionRecord | null> {
    const row = this.db
      .prepare<[string], Row>('SELECT id, state, body FROM transmissions WHERE id = ?')
      .get(id);
    return row ? (JSON.parse(row.body) as TransmissionRecord) : null;
  }

  async request(id: string): Promise<string | null> {
    const row = this.db
      .prepare<[string], { request: string | null }>('SELECT request FROM transmissions WHERE id = ?')
      .get(id);
    return row?.request ?? null;
  }

  async listScheduled(filter: { campaign_id?: string; template_id?: string }): Promise<TransmissionRecord[]> {
    const where = ['scheduled = 1'];
    const args: string[] = [];
    if (filter.campaign_id !== undefined) {
      where.push('campaign_id = ?');
      args.push(filter.campaign_id);
    }
    if (filter.template_id !== undefined) {
      where.push('template_id = ?');
      args.push(filter.template_id);
    }
    const rows = this.db
      .prepare<string[], { body: string }>(
        `SELECT body FROM transmissions WHERE ${where.join(' AND ')} ORDER BY created DESC, id DESC`,
      )
      .all(...args);
    return rows.map((row) => JSON.parse(row.body) as TransmissionRecord);
  }

  async claimDue(now: number, leaseUntil: number, limit: number): Promise<TransmissionRecord[]> {
    return this.claim(now, leaseUntil, limit);
  }

  async update(id: string, patch: TransmissionPatch, leaseUntil: number | null): Promise<void> {
    const current = await this.get(id);
    if (!current) return;
    const next = { ...current, ...patch };
    if (FINISHED.includes(next.state)) {
      this.db
        .prepare('UPDATE transmissions SET state = ?, body = ?, due = NULL, request = NULL WHERE id = ?')
        .run(next.state, JSON.stringify(next), id);
      return;
    }
    this.db
      .prepare('UPDATE transmissions SET state = ?, body = ?, due = coalesce(?, due) WHERE id = ?')
      .run(next.state, JSON.stringify(next), leaseUntil, id);
  }

  async cancel(id: string): Promise<CancelOutcome> {
    return this.cancelOne(id);
  }

  async pending(): Promise<TransmissionRecord[]> {
    const rows = this.db
      .prepare<[], { body: string }>('SELECT body FROM transmissions WHERE due IS NOT NULL ORDER BY id')
      .all();
    return rows.map((row) => JSON.parse(row.body) as TransmissionRecord);
  }

  async submittedInCampaign(campaign: string): Promise<string[]> {
    const rows = this.db
      .prepare<[string], { id: string }>(
        `SELECT id FROM transmissions WHERE campaign_id = ? AND state = 'submitted' ORDER BY id`,
      )
      .all(campaign);
    return rows.map((row) => row.id);
  }

  async inUse(use: { template_id: string } | { recipient_list_id: string }): Promise<boolean> {
    const [column, value] =
      'template_id' in use ? ['template_id', use.template_id] : ['recipient_list_id', use.recipient_list_id];
    const row = this.db
      .prepare<[string], { one: number }>(
        `SELECT 1 AS one FROM transmissions WHERE ${column} = ? AND state IN ('submitted', 'Generating') LIMIT 1`,
      )
      .get(value);
    return row !== undefined;
  }

  async prune(before: string): Promise<number> {
    return this.db
      .prepare(`DELETE FROM transmissions WHERE created < ? AND state IN ('Success', 'Canceled')`)
      .run(before).changes;
  }
}
