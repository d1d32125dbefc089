/**
 * Per-domain concurrency for the queue manager: how many jobs of each recipient domain are in
 * flight, and the jobs waiting because their domain is at its limit (its shaping's connection
 * count), so one slow domain cannot take every delivery slot. A waiting job is handed back, first
 * in first out, when a job of its domain finishes.
 */
import type { Job } from './queue-entries.js';

export class DomainSlots {
  private readonly busy = new Map<string, number>();
  private readonly waiting = new Map<string, Job[]>();
  /** Jobs waiting for a slot, over all domains. */
  waitingCount = 0;

  constructor(private readonly limitFor: (domain: string) => number) {}

  /** Takes a slot of the job's domain; when none is free, keeps the job waiting and returns false. */
  take(job: Job): boolean {
    const busy = this.busy.get(job.domain) ?? 0;
    if (busy >= this.limitFor(job.domain)) {
      const waiting = this.waiting.get(job.domain);
      if (waiting) waiting.push(job);
      else this.waiting.set(job.domain, [job]);
      this.waitingCount++;
      return false;
    }
    this.busy.set(job.domain, busy + 1);
    return true;
  }

  /** Jobs of this domain waiting for a slot (the console shows the destination throttled). */
  waitingIn(domain: string): number {
    return this.waiting.get(domain)?.length ?? 0;
  }

  /** A job of this domain finished: returns the next one waiting for it, if any. */
  release(domain: string): Job | undefined {
    const busy = (this.busy.get(domain) ?? 1) - 1;
    if (busy > 0) this.busy.set(domain, busy);
    else this.busy.delete(domain);
    const waiting = this.waiting.get(domain);
    const next = waiting?.shift();
    if (waiting?.length === 0) this.waiting.delete(domain);
    if (next) this.waitingCount--;
    return next;
  }
}
