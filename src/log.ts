/**
 * Logging: one line per event on stdout, as JSON (pino; one grep by message_id follows a message)
 * or as text in Postfix's manner (log.format: text), or a coloured form for people with --pretty.
 * Times are ISO 8601 in every form. A store that is not answering is told in a few words, never
 * with its client library's stack (store/outage.ts). Secrets never reach a log line: callers log
 * key ids, not keys.
 */
import { pino } from 'pino';
import { textLine } from './log-text.js';
import { isStoreOutage, outageSummary } from './store/outage.js';

export type Logger = pino.Logger;
export type LogFormat = 'json' | 'text';

const serializers = {
  err: (error: unknown) =>
    isStoreOutage(error) ? outageSummary(error) : pino.stdSerializers.err(error as Error),
};

export function createLogger(level: string, pretty = false, format: LogFormat = 'json'): Logger {
  const options = { level, serializers, timestamp: pino.stdTimeFunctions.isoTime };
  if (pretty) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  if (format === 'text')
    return pino(
      { ...options, base: { pid: process.pid } },
      {
        write: (line: string) => process.stdout.write(textLine(JSON.parse(line) as Record<string, unknown>)),
      },
    );
  return pino({ ...options, base: { pid: process.pid } });
}

/**
 * A door's store call that failed: while the store is not answering (its outage is logged once,
 * by the store's client, with what every door answers) a short debug line; any other failure an
 * error line with its stack.
 */
export function logStoreFailure(
  log: Logger,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  if (isStoreOutage(error)) log.debug({ ...fields, ...outageSummary(error) }, message);
  else log.error({ ...fields, err: error }, message);
}
