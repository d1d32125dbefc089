/**
 * TemplateStore and RecipientListStore on the embedded SQLite database: each template one JSON
 * row (a use is recorded with json_set, so it never overwrites an edit); each recipient list its description and its recipients in two columns, so listing the
 * lists never reads the recipients.
 */
import type Database from 'better-sqlite3';
import type {
  RecipientListMeta,
  RecipientListStore,
  StoredRecipient,
  TemplateRecord,
  TemplateStore,
} from '../types.js';

export class EmbeddedTemplateStore implements TemplateStore {
  constructor(private readonly db: Database.Database) {}

  async insert(record: TemplateRecord): Promise<boolean> {
    const done = this.db
      .prepare('INSERT OR IGNORE INTO templates (id, body) VALUES (?, ?)')
      .run(record.id, JSON.stringify(record));
    return done.changes > 0;
  }

  async get(id: string): Promise<TemplateRecord | null> {
    const row = this.db
      .prepare<[string], { body: string }>('SELECT body FROM templates WHERE id = ?')
      .get(id);
    return row ? (JSON.parse(row.body) as TemplateRecord) : null;
  }

  async put(record: TemplateRecord): Promise<boolean> {
    const done = this.db
      .prepare('UPDATE templates SET body = ? WHERE id = ?')
      .run(JSON.stringify(record), record.id);
    return done.changes > 0;
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM templates WHERE id = ?').run(id).changes > 0;
  }

  async list(): Promise<TemplateRecord[]> {
    const rows = this.db.prepare<[], { body: string }>('SELECT body FROM templates ORDER BY id').all();
    return rows.map((row) => JSON.parse(row.body) as TemplateRecord);
  }

  async touch(id: string, when: string): Promise<void> {
    this.db.prepare(`UPDATE templates SET body = json_set(body, '$.last_use', ?) WHERE id = ?`).run(when, id);
  }
}

export class EmbeddedRecipientListStore implements RecipientListStore {
  constructor(private readonly db: Database.Database) {}

  async insert(meta: RecipientListMeta, recipients: StoredRecipient[]): Promise<boolean> {
    const done = this.db
      .prepare('INSERT OR IGNORE INTO recipient_lists (id, meta, recipients) VALUES (?, ?, ?)')
      .run(meta.id, JSON.stringify(meta), JSON.stringify(recipients));
    return done.changes > 0;
  }

  async get(id: string): Promise<RecipientListMeta | null> {
    const row = this.db
      .prepare<[string], { meta: string }>('SELECT meta FROM recipient_lists WHERE id = ?')
      .get(id);
    return row ? (JSON.parse(row.meta) as RecipientListMeta) : null;
  }

  async recipients(id: string): Promise<StoredRecipient[] | null> {
    const row = this.db
      .prepare<[string], { recipients: string }>('SELECT recipients FROM recipient_lists WHERE id = ?')
      .get(id);
    return row ? (JSON.parse(row.recipients) as StoredRecipient[]) : null;
  }

  async update(meta: RecipientListMeta, recipients: StoredRecipient[] | null): Promise<boolean> {
    const done =
      recipients === null
        ? this.db
            .prepare('UPDATE recipient_lists SET meta = ? WHERE id = ?')
            .run(JSON.stringify(meta), meta.id)
        : this.db
            .prepare('UPDATE recipient_lists SET meta = ?, recipients = ? WHERE id = ?')
            .run(JSON.stringify(meta), JSON.stringify(recipients), meta.id);
    return done.changes > 0;
  }

  async delete(id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM recipient_lists WHERE id = ?').run(id).changes > 0;
  }

  async list(): Promise<RecipientListMeta[]> {
    const rows = this.db.prepare<[], { meta: string }>('SELECT meta FROM recipient_lists ORDER BY id').all();
    return rows.map((row) => JSON.parse(row.meta) as RecipientListMeta);
  }
}
