/** Runs the SuppressionStore contract against the embedded SQLite adapter, one database per test. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import type Database from 'better-sqlite3';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedSuppressionStore } from '../../src/store/embedded/suppressions.js';
import { suppressionContract } from './suppressions.contract.js';

const dirs: string[] = [];
const dbs: Database.Database[] = [];
after(() => {
  for (const db of dbs) db.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

suppressionContract('embedded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-supp-'));
  dirs.push(dir);
  const db = openDatabase(dir);
  dbs.push(db);
  return new EmbeddedSuppressionStore(db);
});
