/**
 * Group commit for directory fsyncs. Creating a spool file is durable only once its directory
 * entry is on disk; many messages arriving together share one directory fsync. A caller always
 * waits for a sync that *started after* it asked, so no caller is answered by an older sync.
 */
import { open } from 'node:fs/promises';

export class DirSync {
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;

  constructor(private readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.syncOnce().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.next ??= this.running
      .catch(() => {})
      .then(() => {
        this.next = null;
        return this.sync();
      });
    return this.next;
  }

  private async syncOnce(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
