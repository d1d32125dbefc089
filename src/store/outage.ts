/**
 * Telling a store that is not answering from a bug: what the Redis client reports while Redis is
 * away (it refused or lost the connection, a command timed out or ran out of retries). Doors use
 * it to answer with their outage behaviour and to log a short line instead of a library's stack:
 * the outage itself is logged once, where the client notices it (redis/client.ts).
 */
const OUTAGE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);
const OUTAGE_MESSAGES =
  /Command timed out|Connection is closed|Stream isn't writeable|enableOfflineQueue|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|Failed to refresh slots cache|None of the sentinels are available|All sentinels are unreachable/;

export function isStoreOutage(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return (
    OUTAGE_NAMES.has(error.name) ||
    OUTAGE_NAMES.has(error.constructor.name) ||
    OUTAGE_MESSAGES.test(error.message)
  );
}

/** The short account of an outage error, for a log line: no library wording, no stack. */
export function outageSummary(error: unknown): { store: 'unavailable'; reason: string } {
  const message = error instanceof Error ? error.message : String(error);
  const reason = /Command timed out/.test(message)
    ? 'a command timed out'
    : /ECONNREFUSED/.test(message)
      ? 'connection refused'
      : 'not answering';
  return { store: 'unavailable', reason };
}
