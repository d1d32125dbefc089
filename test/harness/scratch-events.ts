/**
 * An embedded event store in a fresh directory for the tests of one file: opened before them,
 * closed and removed after them. Tests read `scratch.store` (and `db`, `dir`) inside their bodies,
 * where the hooks have run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedEventStore } from '../../src/store/embedded/events.js';

export interface ScratchEvents {
  dir: string;
  db: Database.Database;
  store: EmbeddedEventStore;
}

export function scratchEventStore(prefix: string): ScratchEvents {
  const scratch = {} as ScratchEvents;
  before(() => {
    scratch.dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    scratch.db = openDatabase(scratch.dir);
    scratch.store = new EmbeddedEventStore(scratch.db, scratch.dir);
  });
  after(() => {
    scratch.store?.close();
    scratch.db?.close();
    if (scratch.dir) fs.rmSync(scratch.dir, { recursive: true, force: true });
  });
  return scratch;
}
