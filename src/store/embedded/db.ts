/**
 * The embedded store's SQLite database (data_dir/sluice.db), shared by `sluice serve` and the CLI.
 * WAL lets the CLI read and write while the server runs; schema changes are numbered migrations.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const MIGRATIONS: string[] = [
  `CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     label TEXT NOT NULL,
     grants TEXT NOT NULL,
     valid_ips TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     last_used_at TEXT
   );
   CREATE TABLE events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     event_id TEXT NOT NULL,
     type TEXT NOT NULL,
     message_id TEXT,
     rcpt_to TEXT,
     timestamp TEXT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX events_message ON events (message_id);
   CREATE INDEX events_rcpt ON events (rcpt_to);
   CREATE INDEX events_time ON events (timestamp);`,
  `ALTER TABLE api_keys ADD COLUMN defaults TEXT NOT NULL DEFAULT '{}';
   CREATE TABLE suppressions (
     recipient TEXT NOT NULL,
     type TEXT NOT NULL,
     source TEXT NOT NULL,
     description TEXT NOT NULL,
     created TEXT NOT NULL,
     updated TEXT NOT NULL,
     PRIMARY KEY (recipient, type)
   );
   CREATE INDEX suppressions_updated ON suppressions (updated, recipient, type);`,
  `CREATE TABLE webhooks (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL
   );
   CREATE TABLE webhook_batches (
     id TEXT PRIMARY KEY,
     webhook_id TEXT NOT NULL,
     payload TEXT NOT NULL,
     created INTEGER NOT NULL,
     due INTEGER NOT NULL,
     attempts INTEGER NOT NULL
   );
   CREATE INDEX webhook_batches_due ON webhook_batches (due);
   CREATE INDEX webhook_batches_webhook ON webhook_batches (webhook_id);`,
  // A click or open looks up its message's injection event: with message_id alone that scans every
  // event of the message (one more per click); with the type too it is one index probe.
  `CREATE INDEX events_message_type ON events (message_id, type);`,
  // events_message_type answers every lookup by message_id (its first column): the older index only
  // cost an insert per event, which at one event per recipient is a good part of a delivery's write.
  `DROP INDEX events_message;`,
  // Stored templates and recipient lists (JSON documents), and transmissions: `due` is the start
  // time of a submitted one and the lease end of one being generated, NULL once finished.
  `CREATE TABLE templates (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL
   );
   CREATE TABLE recipient_lists (
     id TEXT PRIMARY KEY,
     meta TEXT NOT NULL,
     recipients TEXT NOT NULL
   );
   CREATE TABLE transmissions (
     id TEXT PRIMARY KEY,
     state TEXT NOT NULL,
     campaign_id TEXT NOT NULL,
     template_id TEXT NOT NULL,
     recipient_list_id TEXT,
     scheduled INTEGER NOT NULL,
     created TEXT NOT NULL,
     due INTEGER,
     body TEXT NOT NULL,
     request TEXT
   );
   CREATE INDEX transmissions_due ON transmissions (due) WHERE due IS NOT NULL;
   CREATE INDEX transmissions_campaign ON transmissions (campaign_id, state);
   CREATE INDEX transmissions_created ON transmissions (created);`,
];

export function openDatabase(dataDir: string): Database.Database {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, 'sluice.db'));
  db.pragma('journal_mode = WAL');
  // Events and keys are not mail: NORMAL survives a process crash (kill -9); the spool has its own fsyncs.
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let i = version; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i]!);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
}
