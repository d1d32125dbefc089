/** Runs the KeyStore contract against the embedded SQLite adapter: two connections to one file. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../src/store/embedded/db.js';
import { EmbeddedKeyStore } from '../../src/store/embedded/keys.js';
import { keyContract } from './keys.contract.js';

keyContract('embedded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-keys-'));
  const serverDb = openDatabase(dir);
  const cliDb = openDatabase(dir);
  return {
    server: new EmbeddedKeyStore(serverDb),
    cli: new EmbeddedKeyStore(cliDb),
    // Every byte of every file the database consists of (main file, WAL, shared memory).
    bytes: async () =>
      Buffer.concat(fs.readdirSync(dir).map((name) => fs.readFileSync(path.join(dir, name)))),
    async close() {
      serverDb.close();
      cliDb.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
});
