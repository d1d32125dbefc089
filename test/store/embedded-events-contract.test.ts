/** Runs the EventStore contract against the embedded SQLite adapter, one database per test. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { openEmbeddedStores } from '../../src/store/open.js';
import type { Stores } from '../../src/store/types.js';
import { eventContract } from './events.contract.js';

const opened: Array<{ dir: string; stores: Stores }> = [];
after(async () => {
  for (const { dir, stores } of opened) {
    await stores.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

eventContract('embedded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-events-'));
  const stores = openEmbeddedStores({ data_dir: dir });
  opened.push({ dir, stores });
  return stores.events;
});
