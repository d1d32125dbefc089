/**
 * Logging: pino JSON lines on stdout (one grep by message_id follows a message), or a readable
 * form for people with --pretty. Secrets never reach a log line: callers log key ids, not keys.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string, pretty = false): Logger {
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
    });
  }
  return pino({ level, base: { pid: process.pid } });
}
