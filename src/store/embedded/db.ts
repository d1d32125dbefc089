/**
 * The embedded store's SQLite database (data_dir/sluice.db), shared by `sluice serve` and the CLI.
 * WAL lets the CLI read and write while the server runs; schema changes are numbered migrations.
 * Any number of processes may open a fresh data_dir at the same moment (systemd starts serve,
 * auth, policy and milter together at boot): the migrations run under one write lock (BEGIN
 * IMMEDIATE) and the schema version is read again once it is held, so exactly one process
 * migrates and the others wait for it (busy_timeout) and find the work done.
 * The database holds webhook secrets and key hashes: data_dir is created 0700 and sluice.db 0600
 * whatever the umask (SQLite gives its -wal and -shm files the database file's mode). Modes of
 * files that already exist are left as the administrator set them.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS api_keys (
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
   CREATE TABLE IF NOT EXISTS events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     event_id TEXT NOT NULL,
     type TEXT NOT NULL,
     message_id TEXT,
     rcpt_to TEXT,
     timestamp TEXT NOT NULL,
     body TEXT NOT NULL
   );
   CREATE INDEX IF NOT EXISTS events_message ON events (message_id);
   CREATE INDEX IF NOT EXISTS events_rcpt ON events (rcpt_to);
   CREATE INDEX IF NOT EXISTS events_time ON events (timestamp);`,
  `ALTER TABLE api_keys ADD COLUMN defaults TEXT NOT NULL DEFAULT '{}';
   CREATE TABLE IF NOT EXISTS suppressions (
     recipient TEXT NOT NULL,
     type TEXT NOT NULL,
     source TEXT NOT NULL,
     description TEXT NOT NULL,
     created TEXT NOT NULL,
     updated TEXT NOT NULL,
     PRIMARY KEY (recipient, type)
   );
   CREATE INDEX IF NOT EXISTS suppressions_updated ON suppressions (updated, recipient, type);`,
  `CREATE TABLE IF NOT EXISTS webhooks (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS webhook_batches (
     id TEXT PRIMARY KEY,
     webhook_id TEXT NOT NULL,
     payload TEXT NOT NULL,
     created INTEGER NOT NULL,
     due INTEGER NOT NULL,
     attempts INTEGER NOT NULL
   );
   CREATE INDEX IF NOT EXISTS webhook_batches_due ON webhook_batches (due);
   CREATE INDEX IF NOT EXISTS webhook_batches_webhook ON webhook_batches (webhook_id);`,
  // A click or open looks up its message's injection event: with message_id alone that scans every
  // event of the message (one more per click); with the type too it is one index probe.
  `CREATE INDEX IF NOT EXISTS events_message_type ON events (message_id, type);`,
  // events_message_type answers every lookup by message_id (its first column): the older index only
  // cost an insert per event, which at one event per recipient is a good part of a delivery's write.
  `DROP INDEX IF EXISTS events_message;`,
  // A message an upstream milter named is spooled under a queue id of its own; its events carry
  // that id too, and a search by it finds them. Only such events have one: the partial index costs
  // nothing for the rest.
  `ALTER TABLE events ADD COLUMN queue_id TEXT;
   CREATE INDEX IF NOT EXISTS events_queue ON events (queue_id) WHERE queue_id IS NOT NULL;`,
  // Stored templates and recipient lists (JSON documents), and transmissions: `due` is the start
  // time of a submitted one and the lease end of one being generated, NULL once finished.
  `CREATE TABLE IF NOT EXISTS templates (
     id TEXT PRIMARY KEY,
     body TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS recipient_lists (
     id TEXT PRIMARY KEY,
     meta TEXT NOT NULL,
     recipients TEXT NOT NULL
   );
   CREATE TABLE IF NOT EXISTS transmissions (
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
   CREATE INDEX IF NOT EXISTS transmissions_due ON transmissions (due) WHERE due IS NOT NULL;
   CREATE INDEX IF NOT EXISTS transmissions_campaign ON transmissions (campaign_id, state);
   CREATE INDEX IF NOT EXISTS transmissions_created ON transmissions (created);`,
  // The Metrics API's rollups (metrics-writer.ts says what each table holds). c0..c25 are the
  // counters of core/metrics/definitions.ts in its order; a counter appended there needs a
  // migration adding its column here. Keyed key-first, so a query seeks per key.
  `CREATE TABLE IF NOT EXISTS metric_dims (
     id INTEGER PRIMARY KEY,
     key TEXT NOT NULL UNIQUE,
     last INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS metric_rows (
     res INTEGER NOT NULL,
     dims INTEGER NOT NULL,
     bucket INTEGER NOT NULL,
     ${Array.from({ length: 26 }, (_, i) => `c${i} INTEGER NOT NULL DEFAULT 0,`).join(' ')}
     PRIMARY KEY (res, dims, bucket)
   ) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS metric_reasons (
     kind INTEGER NOT NULL,
     res INTEGER NOT NULL,
     bucket INTEGER NOT NULL,
     dims INTEGER NOT NULL,
     cls INTEGER NOT NULL,
     reason TEXT NOT NULL,
     n0 INTEGER NOT NULL,
     n1 INTEGER NOT NULL,
     PRIMARY KEY (kind, res, dims, bucket, cls, reason)
   ) WITHOUT ROWID;
   CREATE TABLE IF NOT EXISTS metric_firsts (
     message TEXT NOT NULL,
     rcpt TEXT NOT NULL,
     link TEXT NOT NULL,
     flags INTEGER NOT NULL,
     seen INTEGER NOT NULL,
     PRIMARY KEY (message, rcpt, link)
   ) WITHOUT ROWID;
   CREATE INDEX IF NOT EXISTS metric_firsts_seen ON metric_firsts (seen);
   CREATE TABLE IF NOT EXISTS metric_meta (
     name TEXT PRIMARY KEY,
     value INTEGER NOT NULL
   );`,
];

/** How long a statement waits for another process's lock (a migration, a checkpoint) before failing. */
const BUSY_TIMEOUT_MS = 5000;

export function openDatabase(dataDir: string): Database.Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'sluice.db');
  // Created here, private, before SQLite creates it with the umask's mode.
  closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file);
  // First: every later statement, the switch to WAL included, waits for a process starting alongside.
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma('journal_mode = WAL');
  // Events and keys are not mail: NORMAL survives a process crash (kill -9); the spool has its own fsyncs.
  db.pragma('synchronous = NORMAL');
  migrate(db);
  return db;
}

function schemaVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

function migrate(db: Database.Database): void {
  if (schemaVersion(db) >= MIGRATIONS.length) return;
  // IMMEDIATE takes the write lock at BEGIN: a process that read the old version and then waited
  // reads it again here, after the one that migrated has committed.
  db.transaction(() => {
    for (let i = schemaVersion(db); i < MIGRATIONS.length; i++) {
      db.exec(MIGRATIONS[i]!);
      db.pragma(`user_version = ${i + 1}`);
    }
  }).immediate();
}
