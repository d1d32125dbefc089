/**
 * Worker-thread side of ThreadedEventStore (threaded-events.ts): owns its own connection to
 * data_dir/sluice.db and writes the event batches the main thread posts, each in one SQLite
 * transaction followed by one events.jsonl write, as EmbeddedEventStore.appendMany does on the
 * main thread. The commit (and any WAL checkpoint SQLite runs after it) happens here, so it
 * never holds up the event loop that answers HTTP.
 *
 * Messages in: { id, json } where json is the batch as a JSON array of events (each stored as
 * JSON.stringify gives it: parsing keeps key order, so the body is what the main thread would
 * have written). Messages out: { id: -1 } once the database is open, then { id } once a batch is
 * written, { id, error } when not. The schema
 * is the one db.ts migrates to; the main thread has opened (and migrated) the database first.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { SluiceEvent } from '../../core/events.js';
import { EmbeddedLogWriter } from './events-log.js';

export interface WriterRequest {
  id: number;
  json: string;
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
  'INSERT INTO events (event_id, type, message_id, queue_id, rcpt_to, timestamp, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
);
const insertAll = db.transaction((events: SluiceEvent[], bodies: string[]) => {
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    insert.run(
      e.event_id,
      e.type,
      e.message_id ?? null,
      e.queue_id ?? null,
      e.rcpt_to ?? null,
      e.timestamp,
      bodies[i]!,
    );
  }
});

// The database is open: the main thread may count on this thread from now on.
parentPort!.postMessage({ id: -1 } satisfies WriterReply);

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
    const events = JSON.parse(request.json) as SluiceEvent[];
    const bodies = events.map((event) => JSON.stringify(event));
    insertAll.immediate(events, bodies);
    log.writeLine(bodies.join('\n'));
    parentPort!.postMessage({ id: request.id } satisfies WriterReply);
  } catch (error) {
    parentPort!.postMessage({
      id: request.id,
      error: String((error as Error)?.message ?? error),
    } satisfies WriterReply);
  }
});
