/**
 * WebhookStore on the embedded SQLite database: webhooks as JSON rows (few, read whole), pending
 * batches as rows indexed by due time. A batch row is written (WAL, committed) before the first
 * attempt and removed only once the target accepted it or retries ran out, so a restart resumes it.
 * Several processes may share the database (`sluice serve` and a standalone `sluice milter` each
 * dispatch the events they record): `due` claims what it returns by pushing its due time one
 * lease ahead in the same immediate transaction, so two processes never attempt a batch at once,
 * and a batch whose claimant died comes back when the lease runs out (at-least-once).
 */
import type Database from 'better-sqlite3';
import type { WebhookBatch, WebhookPatch, WebhookRecord, WebhookStore } from '../types.js';

export class EmbeddedWebhookStore implements WebhookStore {
  private readonly claim: (now: number, limit: number) => WebhookBatch[];

  constructor(
    private readonly db: Database.Database,
    leaseMs = 60_000,
  ) {
    const select = db.prepare<[number, number], WebhookBatch>(
      'SELECT * FROM webhook_batches WHERE due <= ? ORDER BY due LIMIT ?',
    );
    const lease = db.prepare<[number, string]>('UPDATE webhook_batches SET due = ? WHERE id = ?');
    const claim = db.transaction((now: number, limit: number) => {
      const batches = select.all(now, limit);
      for (const batch of batches) lease.run(now + leaseMs, batch.id);
      return batches;
    });
    // Immediate: the write lock is taken before the read, so two processes cannot both read a row.
    this.claim = (now, limit) => claim.immediate(now, limit);
  }

  async insert(record: WebhookRecord): Promise<void> {
    this.db.prepare('INSERT INTO webhooks (id, body) VALUES (?, ?)').run(record.id, JSON.stringify(record));
  }

  async get(id: string): Promise<WebhookRecord | null> {
    const row = this.db.prepare<[string], { body: string }>('SELECT body FROM webhooks WHERE id = ?').get(id);
    return row ? (JSON.parse(row.body) as WebhookRecord) : null;
  }

  async list(): Promise<WebhookRecord[]> {
    const rows = this.db.prepare<[], { body: string }>('SELECT body FROM webhooks ORDER BY id').all();
    return rows.map((row) => JSON.parse(row.body) as WebhookRecord);
  }

  async update(id: string, patch: WebhookPatch, now: string): Promise<WebhookRecord | null> {
    const current = await this.get(id);
    if (!current) return null;
    const next: WebhookRecord = { ...current, ...patch, updated: now };
    this.db.prepare('UPDATE webhooks SET body = ? WHERE id = ?').run(JSON.stringify(next), id);
    return next;
  }

  async delete(id: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM webhook_batches WHERE webhook_id = ?').run(id);
      return this.db.prepare('DELETE FROM webhooks WHERE id = ?').run(id).changes > 0;
    })();
  }

  async enqueue(batch: WebhookBatch): Promise<void> {
    this.db
      .prepare(
        'INSERT INTO webhook_batches (id, webhook_id, payload, created, due, attempts) VALUES (@id, @webhook_id, @payload, @created, @due, @attempts)',
      )
      .run(batch);
  }

  async due(now: number, limit: number): Promise<WebhookBatch[]> {
    return this.claim(now, limit);
  }

  async reschedule(id: string, attempts: number, due: number): Promise<void> {
    this.db.prepare('UPDATE webhook_batches SET attempts = ?, due = ? WHERE id = ?').run(attempts, due, id);
  }

  async remove(id: string): Promise<void> {
    this.db.prepare('DELETE FROM webhook_batches WHERE id = ?').run(id);
  }

  async pending(webhookId: string): Promise<number> {
    const row = this.db
      .prepare<[string], { n: number }>('SELECT count(*) AS n FROM webhook_batches WHERE webhook_id = ?')
      .get(webhookId);
    return row?.n ?? 0;
  }
}
