/**
 * Runs test/milter/miltertest/stages.lua with miltertest(8) (Debian package `miltertest`, an
 * independent implementation of the MTA side) against `sluice milter` as a real child process:
 * every stage a Postfix would send, the header change and addition at EOM, A (abort) keeping the
 * connection usable, and the 550 reply code for an invalid X-MSYS-API. Also checks the events.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runProgram, searchEvents } from '../harness/clients.js';

import { type SluiceService, startSluiceService } from '../harness/service-process.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SCRIPT = path.join(repoRoot, 'test/milter/miltertest/stages.lua');

let dir: string;
let port: number;
let milter: SluiceService;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'sluice-miltertest-'));
  milter = await startSluiceService('milter', { dataDir: dir });
  port = milter.port;
});

after(async () => {
  await milter?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('miltertest drives every stage of sluice milter', async () => {
  const run = await runProgram('/usr/bin/miltertest', ['-v', '-s', SCRIPT], {
    env: { MILTER: `inet:${port}@127.0.0.1` },
  });
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}\n${milter.output()}`);
  assert.match(run.stdout, /^ok$/m);
  const events = await searchEvents(dir, { type: 'injection' });
  assert.equal(events.length, 1, 'the aborted message and the refused one record nothing');
  assert.equal(events[0]!.campaign_id, 'mt');
  assert.equal(events[0]!.subject, 'miltertest');
});
