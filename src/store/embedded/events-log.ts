/**
 * The node's append-only events log, data_dir/events.jsonl: one JSON line per event, written at
 * once (writeSync), which `sluice events tail` follows and any log shipper can read. Both event
 * store adapters keep it, so each node's log shows the events that node reported.
 *
 * The file is rotated by logrotate: when the path no longer names the open file (renamed or
 * removed), the next append a second or more later reopens it, so no signal is needed.
 */
import { closeSync, fstatSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { SluiceEvent } from '../../core/events.js';

export const EVENTS_LOG = 'events.jsonl';

const CHECK_MS = 1_000;

export class EmbeddedLogWriter {
  private fd: number | null = null;
  private checkedAt = 0;

  constructor(private readonly dataDir: string) {}

  write(event: SluiceEvent): void {
    this.writeLine(JSON.stringify(event));
  }

  writeLine(json: string): void {
    writeSync(this.open(), `${json}\n`);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private open(): number {
    const now = Date.now();
    if (this.fd !== null && now - this.checkedAt >= CHECK_MS) {
      this.checkedAt = now;
      if (!this.namesOpenFile(this.fd)) this.close();
    }
    if (this.fd === null) {
      // Every event names recipients and metadata: for Sluice's user only, whatever the umask
      // (logrotate's `create` sets the mode of the files it makes; an existing file keeps its own).
      mkdirSync(this.dataDir, { recursive: true, mode: 0o700 });
      this.fd = openSync(path.join(this.dataDir, EVENTS_LOG), 'a', 0o600);
    }
    return this.fd;
  }

  /** Whether events.jsonl still is the file we hold open (logrotate renames it away). */
  private namesOpenFile(fd: number): boolean {
    try {
      const open = fstatSync(fd);
      const named = statSync(path.join(this.dataDir, EVENTS_LOG));
      return open.ino === named.ino && open.dev === named.dev;
    } catch {
      return false;
    }
  }
}
