/**
 * The node's append-only events log, data_dir/events.jsonl: one JSON line per event, written at
 * once (writeSync), which `sluice events tail` follows and any log shipper can read. Both event
 * store adapters keep it, so each node's log shows the events that node reported.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { SluiceEvent } from '../../core/events.js';

export const EVENTS_LOG = 'events.jsonl';

export class EmbeddedLogWriter {
  private fd: number | null = null;

  constructor(private readonly dataDir: string) {}

  write(event: SluiceEvent): void {
    this.writeLine(JSON.stringify(event));
  }

  writeLine(json: string): void {
    if (this.fd === null) {
      mkdirSync(this.dataDir, { recursive: true });
      this.fd = openSync(path.join(this.dataDir, EVENTS_LOG), 'a');
    }
    writeSync(this.fd, `${json}\n`);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
