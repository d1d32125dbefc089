/**
 * What the queue manager keeps per message and per destination: an Entry per spooled message
 * (hot with its envelope, or cold with only what scheduling needs), a Job per recipient domain of
 * it, and what a permanent failure hands to bounce handling. The queue tools (control.ts), the
 * per-domain slots and the console read these shapes; only the manager changes them.
 */
import type { SluiceEvent } from '../core/events.js';
import type { RcptResult } from '../delivery/deliver.js';
import type { SpooledMessage } from './spool.js';

/** A recipient that reached a permanent failure, with the bounce event recorded for it. */
export interface BouncedRcpt {
  result: RcptResult;
  event: SluiceEvent;
}

export interface Entry {
  /** The spool's id (the queue id). */
  id: string;
  /** The message id when it differs from the queue id (an upstream milter named it); else undefined. */
  messageId: string | undefined;
  /** Injection time, ms since the epoch (expiry and the queue tools read it without the envelope). */
  arrival: number;
  /** The envelope (and maybe body) in memory, or null when cold: see load(). */
  message: SpooledMessage | null;
  loading: Promise<SpooledMessage> | null;
  openJobs: number;
  /** The last spool write (side file or removal) for this message; the next one waits for it. */
  writes: Promise<void>;
  /** Its unfinished jobs, whatever their state (queue/control.ts reads them). */
  jobs: Set<Job>;
  /** On hold: its jobs are parked instead of run (persisted as `<id>.hold` in the spool). */
  held: boolean;
  parked: Job[];
  /** Whether a `<id>.done` side file may exist (loaded with one, or written since). */
  sideFile: boolean;
}

export interface Job {
  entry: Entry;
  domain: string;
  rcpts: string[];
  /** Attempts already made for these recipients. */
  attempts: number;
  /** When it is due (deferred jobs); 0 when queued to run now. */
  due: number;
  state?: 'ready' | 'deferred' | 'parked' | 'running';
  /** The reply that deferred the previous attempt. */
  lastError?: string;
  /** Withdrawn by an admin operation while still in a queue; skipped when taken out. */
  cancelled?: boolean;
  /** Why the rendered message went out (partly) untracked, from the last attempt's rendering. */
  trackingNote?: string;
}
