/**
 * Logging: one line per event on stdout, as JSON (pino; one grep by message_id follows a message)
 * or as text in Postfix's manner (log.format: text), or a coloured form for people with --pretty.
 * Times are ISO 8601 in every form. A store that is not answering is told in a few words, never
 * with its client library's stack (store/outage.ts). Secrets never reach a log line: callers log
 * key ids, not keys.
 * setLogLevel() changes the level of a logger and of every child made from it since (pino gives
 * a child its parent's level when it is made, and never again): a reload's new log.level reaches
 * the listeners' and services' loggers made at start as well as those made later.
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

/** Children of each root, held weakly: per-connection children come and go. */
const childrenOf = new WeakMap<Logger, Set<WeakRef<Logger>>>();

export function createLogger(level: string, pretty = false, format: LogFormat = 'json'): Logger {
  const children = new Set<WeakRef<Logger>>();
  const onChild = (child: Logger) => {
    children.add(new WeakRef(child));
    if (children.size % 1024 === 0) for (const ref of children) if (!ref.deref()) children.delete(ref);
  };
  const options = { level, serializers, onChild, timestamp: pino.stdTimeFunctions.isoTime };
  let root: Logger;
  if (pretty) {
    root = pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } },
    });
  } else if (format === 'text') {
    root = pino(
      { ...options, base: { pid: process.pid } },
      {
        write: (line: string) => process.stdout.write(textLine(JSON.parse(line) as Record<string, unknown>)),
      },
    );
  } else root = pino({ ...options, base: { pid: process.pid } });
  childrenOf.set(root, children);
  return root;
}

/** The level of `root` (a logger createLogger made) and of all its living descendants. */
export function setLogLevel(root: Logger, level: string): void {
  root.level = level;
  for (const ref of childrenOf.get(root) ?? []) {
    const child = ref.deref();
    if (child) child.level = level;
    else childrenOf.get(root)?.delete(ref);
  }
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
