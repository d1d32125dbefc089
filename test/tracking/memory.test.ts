/**
 * Specifies that the tracking transform streams: a 25 MB message with attachments goes through it
 * in a child process (memory-child.ts) and what stays alive grows by far less than the message.
 * A memory bound, not a timing assertion: the child samples process.memoryUsage() after a full GC
 * every 1 MB and reports the peaks. It runs with a 1 MB young generation, so RSS shows what is
 * kept rather than V8's allocation headroom (16 MB by default, the same for any message size).
 * The output is checked too: the newsletter is tracked and the attachment bytes come out as they
 * went in. A second message adds an inline text part larger than the part limit: the transform
 * holds it up to the limit, then declines it, so memory stays bounded by the limit.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const CHILD = path.join(import.meta.dirname, 'memory-child.js');
const MB = 1024 * 1024;
const SIZE = 25 * MB;
const MAX_PART = 5 * MB;

interface Report {
  bytesIn: number;
  links: number;
  pixels: number;
  reasons: string[];
  attachmentsIn: string;
  attachmentsOut: string;
  heapBefore: number;
  rssBefore: number;
  peakHeap: number;
  peakRss: number;
}

async function stream(inlineText: number) {
  const { stdout } = await execFileAsync(
    process.execPath,
    ['--expose-gc', '--max-semi-space-size=1', CHILD, String(SIZE), String(MAX_PART), String(inlineText)],
    { timeout: 120_000, maxBuffer: MB, env: { ...process.env, SLUICE_MEMORY_CHILD: '1' } },
  );
  const r = JSON.parse(stdout) as Report;
  assert.ok(r.bytesIn >= SIZE, `${r.bytesIn} bytes streamed`);
  assert.equal(r.links, 600, 'the newsletter is tracked');
  assert.equal(r.pixels, 2);
  assert.equal(r.attachmentsOut, r.attachmentsIn, 'attachment bytes unchanged');
  const live = r.peakHeap - r.heapBefore;
  const rss = r.peakRss - r.rssBefore;
  console.log(
    `# ${SIZE / MB} MB message: live +${(live / MB).toFixed(1)} MB, RSS +${(rss / MB).toFixed(1)} MB`,
  );
  return { r, live, rss };
}

describe('tracking transform memory', () => {
  test('25 MB with attachments: live memory and RSS grow by a small fraction of the message', async () => {
    const { r, live, rss } = await stream(0);
    assert.deepEqual(r.reasons, []);
    assert.ok(live < SIZE / 10, `live memory grew by ${(live / MB).toFixed(1)} MB`);
    assert.ok(rss < SIZE / 3, `RSS grew by ${(rss / MB).toFixed(1)} MB`);
  });

  test('an inline text part over the limit is held only up to the limit, then declined', async () => {
    const { r, live } = await stream(MAX_PART * 1.5);
    assert.deepEqual(r.reasons, [`a text part is larger than ${MAX_PART} bytes; left untouched`]);
    // Up to the limit in line Buffers plus their object overhead; never the message.
    assert.ok(live < 3 * MAX_PART, `live memory grew by ${(live / MB).toFixed(1)} MB`);
  });
});
