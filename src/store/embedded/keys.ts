/** KeyStore on the embedded SQLite database. Lookups go to the database every time, so a key
 * created or deleted by the CLI takes effect in a running server at once. */
import type Database from 'better-sqlite3';
import type { Grant } from '../../core/grants.js';
import type { ApiKeyRecord, KeyDefaults, KeyPatch, KeyStore } from '../types.js';

interface Row {
  id: string;
  label: string;
  grants: string;
  valid_ips: string;
  hash: string;
  prefix: string;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  defaults: string;
}

const fromRow = (row: Row): ApiKeyRecord => ({
  ...row,
  grants: JSON.parse(row.grants) as Grant[],
  valid_ips: JSON.parse(row.valid_ips) as string[],
  defaults: JSON.parse(row.defaults) as KeyDefaults,
});

export class EmbeddedKeyStore implements KeyStore {
  private readonly insertStmt;
  private readonly byHash;
  private readonly byId;
  private readonly all;
  private readonly deleteStmt;
  private readonly touchStmt;

  constructor(private readonly db: Database.Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO api_keys (id, label, grants, valid_ips, hash, prefix, created_at, updated_at, last_used_at, defaults)
       VALUES (@id, @label, @grants, @valid_ips, @hash, @prefix, @created_at, @updated_at, @last_used_at, @defaults)`,
    );
    this.byHash = db.prepare<[string], Row>('SELECT * FROM api_keys WHERE hash = ?');
    this.byId = db.prepare<[string], Row>('SELECT * FROM api_keys WHERE id = ?');
    this.all = db.prepare<[], Row>('SELECT * FROM api_keys ORDER BY created_at, id');
    this.deleteStmt = db.prepare('DELETE FROM api_keys WHERE id = ?');
    this.touchStmt = db.prepare('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    this.insertStmt.run({
      ...record,
      grants: JSON.stringify(record.grants),
      valid_ips: JSON.stringify(record.valid_ips),
      defaults: JSON.stringify(record.defaults),
    });
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | null> {
    const row = this.byHash.get(hash);
    return row ? fromRow(row) : null;
  }

  async findById(id: string): Promise<ApiKeyRecord | null> {
    const row = this.byId.get(id);
    return row ? fromRow(row) : null;
  }

  async list(): Promise<ApiKeyRecord[]> {
    return this.all.all().map(fromRow);
  }

  async update(id: string, patch: KeyPatch, now: string): Promise<ApiKeyRecord | null> {
    const current = await this.findById(id);
    if (!current) return null;
    const next: ApiKeyRecord = { ...current, ...patch, updated_at: now };
    this.db
      .prepare(
        'UPDATE api_keys SET label = ?, grants = ?, valid_ips = ?, defaults = ?, updated_at = ? WHERE id = ?',
      )
      .run(
        next.label,
        JSON.stringify(next.grants),
        JSON.stringify(next.valid_ips),
        JSON.stringify(next.defaults),
        now,
        id,
      );
    return next;
  }

  async delete(id: string): Promise<boolean> {
    return this.deleteStmt.run(id).changes > 0;
  }

  async touch(id: string, when: string): Promise<void> {
    this.touchStmt.run(when, id);
  }
}
