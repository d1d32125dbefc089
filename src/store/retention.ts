/**
 * Event retention for `sluice serve`: once at start and then hourly, events older than
 * `events.retention` are pruned from a store that supports it; Metrics API rollups are folded
 * and pruned (`metrics.retention` / `metrics.minute_retention`). Failures are logged and retried
 * at the next tick; neither blocks a door.
 */
import type { Logger } from '../log.js';
import type { EventStore, MetricsStore } from './types.js';

const HOUR_MS = 3_600_000;

/**
 * Runs task now and then every intervalMs, never two at once (a slow store skips a tick rather
 * than piling them up); the timer does not keep the process alive.
 */
function everyInterval(task: () => Promise<void>, intervalMs: number): { stop(): void } {
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    try {
      await task();
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
    },
  };
}

export function startEventRetention(
  events: EventStore,
  retentionMs: number,
  log: Logger,
  intervalMs = HOUR_MS,
): { stop(): void } {
  const prune = events.prune?.bind(events);
  if (!prune) return { stop() {} };
  return everyInterval(async () => {
    const before = new Date(Date.now() - retentionMs).toISOString();
    try {
      const removed = await prune(before);
      if (removed > 0) log.info({ removed, before }, 'pruned old events');
    } catch (error) {
      log.error({ err: error }, 'event pruning failed; will retry');
    }
  }, intervalMs);
}

/**
 * Metrics rollup upkeep: every minute, finished hours are folded into hour and day rows
 * (MetricsStore.compact; several nodes sharing Redis may all run it, each hour is folded once);
 * hourly, rollups past their retention go (prune). Both also run at start.
 */
export function startMetricsRetention(
  metrics: MetricsStore,
  log: Logger,
  intervalMs = 60_000,
  pruneEvery = 60,
): { stop(): void } {
  let ticks = 0;
  return everyInterval(async () => {
    try {
      const folded = await metrics.compact(Date.now());
      if (folded > 0) log.debug({ hours: folded }, 'folded metrics rollups');
      if (ticks++ % pruneEvery === 0) {
        const removed = await metrics.prune(Date.now());
        if (removed > 0) log.info({ removed }, 'pruned old metrics rollups');
      }
    } catch (error) {
      log.error({ err: error }, 'metrics rollup upkeep failed; will retry');
    }
  }, intervalMs);
}
