/**
 * Worker-thread side of ThreadedEventStore (threaded-events.ts): owns its own connection to
 * data_dir/sluice.db and writes the event batches the main thread posts, each in one SQLite
 * transaction followed by one events.jsonl write, as EmbeddedEventStore.appendMany does on the
 * main thread. The commit (and any WAL checkpoint SQLite runs after it) happens here, so it
 * never holds up the event loop that answers HTTP.
 *
 * Messages in: { id, rows } where a row is [event_id, type, message_id, rcpt_to, timestamp, body]
 * (body: the event's JSON). Messages out: { id } once written, { id, error } when not. The schema
 * is the one db.ts migrates to; the main thread has opened (and migrated) the database first.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { EmbeddedLogWriter } from './events-log.js';

export type EventRow = [string, string, string | null, string | null, string, string];

export interface WriterRequest {
  id: number;
  rows: EventRow[];
}

export interface WriterReply {
  id: number;
  error?: string;
}

const { dataDir } = workerData as { dataDir: string };
const db = new Database(path.join(dataDir, 'sluice.db'));
db.pragma('busy_timeout = 5000');
db.pragma('synchronous = NORMAL');
const log = new EmbeddedLogWriter(dataDir);
// The same statement as EmbeddedEventStore's insert (events.ts).
const insert = db.prepare(
  'INSERT INTO events (event_id, type, message_id, rcpt_to, timestamp, body) VALUES (?, ?, ?, ?, ?, ?)',
);
const insertAll = db.transaction((rows: EventRow[]) => {
  for (const row of rows) insert.run(row[0], row[1], row[2], row[3], row[4], row[5]);
});

parentPort!.on('message', (request: WriterRequest | 'close') => {
  if (request === 'close') {
    log.close();
    db.close();
    parentPort!.close();
    return;
  }
  try {
    // IMMEDIATE: take the write lock up front, so a busy database waits (busy_timeout) instead
    // of failing half way through.
    insertAll.immediate(request.rows);
    log.writeLine(request.rows.map((row) => row[5]).join('\n'));
    parentPort!.postMessage({ id: request.id } satisfies WriterReply);
  } catch (error) {
    parentPort!.postMessage({
      id: request.id,
      error: String((error as Error)?.message ?? error),
    } satisfies WriterReply);
  }
});
